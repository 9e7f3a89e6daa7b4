"""The shipped policies are lawful out of the box, and installing them twice adds nothing."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.core.models import Setting
from app.core.settings import get_setting
from app.dunning import rates
from app.dunning.defaults import install_defaults
from app.dunning.models import DunningLevel, DunningPolicy
from app.extensions import db
from app.notifications.models import MessageTemplate
from tests.dunning.conftest import count, policy


def test_install_defaults_is_idempotent_and_keeps_staff_edits():
    first = install_defaults()
    assert first["policies"] == 5 and first["templates"] == 63 and first["rates"] >= 12
    policy("Belgian consumers").levels[1].days_after_due = 10
    db.session.commit()
    again = install_defaults()
    assert again == {"policies": 0, "rates": 0, "settings": 0, "templates": 0}
    assert policy("Belgian consumers").levels[1].days_after_due == 10
    assert count(DunningPolicy) == 5


def test_shipped_policies_follow_the_law():
    install_defaults()
    be = {lv.sequence: lv for lv in policy("Belgian consumers").levels}
    assert be[0].tone == "pre_due" and not be[0].active  # optional, off until wanted
    assert be[1].fee_rule == "none"  # the first reminder is free
    assert be[1].template_key == "dunning_be_consumer_first"
    assert all(be[s].min_days_since_previous >= 15 for s in (2, 3, 4))  # 14 days + receipt
    assert be[2].fee_rule == be[3].fee_rule == "be_consumer"
    nl = {lv.sequence: lv for lv in policy("Dutch consumers").levels}
    assert nl[2].fee_rule == "none" and nl[2].template_key == "dunning_nl_consumer_14_day"
    assert nl[3].fee_rule == "nl_consumer" and nl[3].min_days_since_previous >= 15
    assert policy("Businesses (Belgium and EU)").country is None
    assert {lv.fee_rule for lv in policy("French businesses").levels} >= {"fr_business"}
    assert "none" == {lv.fee_rule for lv in policy(
        "Consumers in other countries (no fees)").levels}.pop()
    for level in db.session.scalars(select(DunningLevel)):
        for language in ("fr", "nl", "en"):
            for channel in [c for c in level.channels.split(",")] + ["letter"]:
                assert db.session.scalar(select(MessageTemplate.id).where(
                    MessageTemplate.key == level.template_key,
                    MessageTemplate.channel == channel,
                    MessageTemplate.language == language)), (level.template_key, channel)


def test_rates_and_settings_are_rows_staff_can_edit():
    install_defaults()
    assert rates.rate_for("ecb", date(2024, 3, 1)) == rates.schedule("ecb")[2][1]
    assert rates.rate_for("ecb", date(2020, 1, 1)) is None
    assert rates.rate_for("fr_legal", date(2025, 8, 1)) is not None
    assert not rates.is_stale("ecb", date(2026, 8, 1)) and rates.is_stale("ecb", date(2027, 1, 2))
    row = db.session.scalar(select(Setting).where(Setting.key == "dunning.salary_day_window"))
    assert row is not None and row.description
    row.value = 3
    db.session.commit()
    assert get_setting("dunning.salary_day_window") == 3
