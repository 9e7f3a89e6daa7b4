"""The settings registry: every key the code reads is declared, every declaration has a screen
(label, group), and each field type parses what people type in French, Dutch and English."""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from flask_babel import force_locale

from app.core import settings as registry
from app.core.settings import GROUPS, REGISTRY, clean_setting_value, register_setting
from app.core.validation import ValidationError

ROOT = Path(__file__).resolve().parents[2]
# get_setting("x"), get_settings(["x", "y"]) / get_settings(("x",)), set_setting("x", ...),
# is_customised("x"), reset_setting("x"): every literal key the code reads or writes.
CALL = re.compile(r"\b(get_setting|get_settings|set_setting|is_customised|reset_setting)"
                  r"\(\s*([\[\(]?)\s*((?:f?\"[^\"]*\"\s*,?\s*)+)")
LITERAL = re.compile(r"(f?)\"([^\"]*)\"")


def _literal_keys() -> list[tuple[str, str]]:
    found = []
    for folder in ("app", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for match in CALL.finditer(text):
                literals = LITERAL.findall(match.group(3))
                if not match.group(2):
                    literals = literals[:1]  # the first argument; the next is the value
                for is_f, key in literals:
                    found.append((f"{path.relative_to(ROOT)}", ("f:" if is_f else "") + key))
    return found


def _matches_declared(key: str) -> bool:
    if not key.startswith("f:"):
        return key in REGISTRY
    # An f-string key: each {...} part stands for any word; one declared key must fit.
    pattern = re.escape(key[2:])
    pattern = re.sub(r"\\\{[^}]*\\\}", r"[\\w]+", pattern)
    return any(re.fullmatch(pattern, declared) for declared in REGISTRY)


def test_the_code_reads_no_undeclared_setting(app):
    keys = _literal_keys()
    assert len(keys) > 40, "the grep found too few reads: is the pattern still right?"
    undeclared = sorted({f"{path}: {key}" for path, key in keys if not _matches_declared(key)})
    assert not undeclared, f"read but never declared with register_setting(): {undeclared}"


def test_every_module_declaring_settings_is_loaded_for_the_screens(app):
    declaring = set()
    for path in (ROOT / "app").rglob("*.py"):
        if re.search(r"^\s*(\w+ = )?register_setting\(|\bregister_setting\(f?\"",
                     path.read_text(encoding="utf-8"), re.MULTILINE):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if module != "app.core.settings":
                declaring.add(module)
    assert declaring <= set(registry.DECLARING_MODULES)


def test_the_grep_catches_an_undeclared_key(app, tmp_path):
    sample = 'x = get_setting("nobody.declared_this")\ny = get_settings(["company.name", "nope.x"])'
    keys = []
    for match in CALL.finditer(sample):
        literals = LITERAL.findall(match.group(3))
        keys += [k for _f, k in (literals if match.group(2) else literals[:1])]
    assert keys == ["nobody.declared_this", "company.name", "nope.x"]
    assert [k for k in keys if not _matches_declared(k)] == ["nobody.declared_this", "nope.x"]


def test_every_setting_has_a_translated_label_a_group_and_roles(app):
    assert len(REGISTRY) >= 80
    for found in REGISTRY.values():
        assert found.group in GROUPS, found.key
        assert found.category in registry.CATEGORY_GROUPS or found.group, found.key
        assert str(found.label) and str(found.label) != found.key, found.key
        assert type(found.label).__name__ == "LazyString", f"{found.key}: not lazy_gettext"
        assert "Admin" in found.roles or found.may_change({"Admin"})
        if found.help:
            assert type(found.help).__name__ == "LazyString", found.key
        if found.type == "choice":
            assert all(type(label).__name__ == "LazyString" for _v, label in found.choices)
    # every group of the issue has its form, and each form has settings
    assert list(GROUPS) == ["company", "portal", "requests", "dunning", "approvals",
                            "messages", "retention"]
    for key in GROUPS:
        assert registry.definitions(group=key), key


def test_the_defaults_pass_their_own_checks(app):
    for found in REGISTRY.values():
        assert clean_setting_value(found.key, found.default) == found.default, found.key


def test_the_scheduler_bookkeeping_is_not_a_setting(app):
    assert not [k for k in REGISTRY if k.startswith("scheduler.last_run")]


def test_declaring_twice_or_an_unknown_type_or_group_is_refused(app):
    with pytest.raises(ValueError):
        register_setting("company.name", "x")
    with pytest.raises(ValueError):
        register_setting("test.unknown_type", 1, "float")
    with pytest.raises(ValueError):
        register_setting("test.unknown_group", 1, "int", group="elsewhere")
    assert "test.unknown_type" not in REGISTRY and "test.unknown_group" not in REGISTRY


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
@pytest.mark.parametrize("typed,expected", [
    ("250,50", "250.50"), ("250.50", "250.50"), ("1 234,50", "1234.50"),
    ("1\u202f234,50", "1234.50"), ("1.234,50", "1234.50"), ("1,234.50", "1234.50"),
    ("12", "12.00"), ("€ 12,5", "12.50"),
])
def test_money_with_either_decimal_separator(app, language, typed, expected):
    with app.test_request_context(), force_locale(language):
        assert clean_setting_value("self_service.deferral.max_amount", typed) == \
            Decimal(expected)


@pytest.mark.parametrize("typed", ["12,505", "douze", "1,2,3", "-5", "12.50.1"])
def test_bad_money_is_refused_naming_the_field(app, typed):
    with app.test_request_context(), force_locale("fr"), \
            pytest.raises(ValidationError) as refused:
        clean_setting_value("self_service.deferral.max_amount", typed)
    assert list(refused.value.errors) == ["self_service.deferral.max_amount"]


def test_money_is_shown_with_the_readers_decimal_separator(app):
    found = REGISTRY["self_service.deferral.max_amount"]
    for language, shown in (("fr", "1000,00"), ("nl", "1000,00"), ("en", "1000.00")):
        with app.test_request_context(), force_locale(language):
            assert registry.display_value(found, Decimal(1000)) == shown


def test_percentages(app):
    key = "dunning.b2b_interest_margin"
    assert clean_setting_value(key, "8") == Decimal(8)
    assert clean_setting_value(key, "8,5 %") == Decimal("8.5")
    assert clean_setting_value(key, "12.25%") == Decimal("12.25")
    with app.test_request_context(), force_locale("nl"):
        with pytest.raises(ValidationError, match="tussen|between"):
            clean_setting_value(key, "150")
        assert registry.display_value(REGISTRY[key], Decimal("8.50")) == "8,5"


def test_whole_days_and_ranges(app):
    assert clean_setting_value("self_service.deferral.max_days", "45") == 45
    assert clean_setting_value("self_service.deferral.max_days", "") == 30  # default
    for bad in ("4,5", "trente", "-1", "366"):
        with pytest.raises(ValidationError):
            clean_setting_value("self_service.deferral.max_days", bad)


@pytest.mark.parametrize("typed,expected", [
    ("21:00-08:00", "21:00-08:00"), ("21h-8h", "21:00-08:00"), ("21.30 – 7.15", "21:30-07:15"),
    ("22 to 7", "22:00-07:00"), ("22u-7u", "22:00-07:00"), ("", ""),
])
def test_time_ranges(app, typed, expected):
    assert clean_setting_value("dunning.sms_quiet_hours", typed) == expected


@pytest.mark.parametrize("typed", ["25:00-08:00", "21:00", "tonight", "21:70-08:00"])
def test_bad_time_ranges(app, typed):
    with pytest.raises(ValidationError):
        clean_setting_value("dunning.sms_quiet_hours", typed)


def test_yes_no_in_three_languages(app):
    for typed in ("yes", "oui", "ja", "y"):
        assert clean_setting_value("portal.welcome_check", typed) is True
    for typed in ("no", "non", "nee"):
        assert clean_setting_value("portal.welcome_check", typed) is False
    with pytest.raises(ValidationError):
        clean_setting_value("portal.welcome_check", "peut-être")


def test_choices(app):
    assert clean_setting_value("retention.preset", "FR") == "FR"
    with pytest.raises(ValidationError):
        clean_setting_value("retention.preset", "DE")
    with app.test_request_context(), force_locale("fr"):
        labels = [str(label) for _v, label in REGISTRY["retention.preset"].choices]
    assert len(labels) == 3


def test_iban_bic_and_creditor_id_checksums(app):
    assert clean_setting_value("company.iban", "BE04 0682 4613 7931") == "BE04068246137931"
    assert clean_setting_value("company.iban", "be68 5390 0754 7034") == "BE68539007547034"
    assert clean_setting_value("company.bic", "gkccbebb") == "GKCCBEBB"
    assert clean_setting_value("company.creditor_id", "BE81 ZZZ 0123456749") == \
        "BE81ZZZ0123456749"
    with app.test_request_context(), force_locale("fr"):
        with pytest.raises(ValidationError, match="IBAN") as iban:
            clean_setting_value("company.iban", "BE05 0682 4613 7931")  # one check digit off
        with pytest.raises(ValidationError):
            clean_setting_value("company.bic", "GKCC")
        with pytest.raises(ValidationError) as creditor:
            clean_setting_value("company.creditor_id", "BE82ZZZ0123456749")
    assert list(iban.value.errors) == ["company.iban"]
    assert list(creditor.value.errors) == ["company.creditor_id"]


def test_urls_and_emails(app):
    assert clean_setting_value("notifications.public_url", "https://pay.example.be") == \
        "https://pay.example.be"
    for bad in ("pay.example.be", "ftp://x.example", "https://"):
        with pytest.raises(ValidationError):
            clean_setting_value("notifications.public_url", bad)
    with pytest.raises(ValidationError):
        clean_setting_value("company.email", "billing.example.com")


def test_a_value_stored_by_hand_that_breaks_its_type_falls_back_to_the_default(app):
    from app.core.models import Setting
    from app.extensions import db

    db.session.add(Setting(key="self_service.deferral.max_amount", value="lots",
                           category="self_service"))
    db.session.commit()
    assert registry.get_setting("self_service.deferral.max_amount") == Decimal("1000.00")
