"""Settings are read once per transaction (a poll of 10,000 replies asks the same keys for each
one), yet a value changed in the same transaction is seen at once and another session's change
is seen from the next transaction on."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from app.core.models import Setting
from app.core.settings import (
    get_setting,
    get_settings,
    is_customised,
    load_declarations,
    reset_setting,
    set_setting,
)
from app.extensions import db

KEY = "requests.sla_hours.question"
OTHER = "requests.sla_due_soon_hours"


@pytest.fixture(autouse=True)
def _declared():
    load_declarations()


@contextmanager
def setting_reads():
    """The SELECTs on the setting table sent meanwhile (a list filled as they go)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        text = " ".join(statement.lower().split())
        if text.startswith("select") and "from setting" in text:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_setting_is_read_from_the_database_once_per_transaction():
    set_setting(KEY, "30")
    db.session.commit()
    with setting_reads() as reads:
        assert [get_setting(KEY) for _ in range(5)] == [30] * 5
        assert is_customised(KEY) and get_settings([KEY])[KEY] == 30
    assert len(reads) == 1
    db.session.commit()
    with setting_reads() as reads:
        assert get_setting(KEY) == 30
    assert len(reads) == 1  # a new transaction reads again


def test_a_change_in_the_same_transaction_is_seen_at_once():
    default = get_setting(KEY)
    assert not is_customised(KEY)
    set_setting(KEY, str(default + 5))
    assert get_setting(KEY) == default + 5 and is_customised(KEY)
    row = db.session.scalar(select(Setting).where(Setting.key == KEY))
    row.value = default + 7  # written by hand (the stored rows screen does this)
    assert get_setting(KEY) == default + 7
    db.session.execute(update(Setting).where(Setting.key == KEY).values(value=default + 9))
    assert get_setting(KEY) == default + 9
    reset_setting(KEY)
    assert get_setting(KEY) == default and not is_customised(KEY)
    db.session.add(Setting(key=KEY, category="requests", value=default + 11))
    assert get_setting(KEY) == default + 11
    row = db.session.scalar(select(Setting).where(Setting.key == KEY))
    db.session.delete(row)  # no reset_setting, no flush yet
    assert get_setting(KEY) == default


def test_a_savepoint_rolled_back_takes_its_change_with_it():
    set_setting(KEY, "30")
    db.session.commit()
    assert get_setting(KEY) == 30
    savepoint = db.session.begin_nested()
    set_setting(KEY, "40")
    assert get_setting(KEY) == 40
    savepoint.rollback()
    assert get_setting(KEY) == 30
    db.session.rollback()
    assert get_setting(KEY) == 30


def test_another_sessions_change_is_seen_after_commit():
    set_setting(KEY, "30")
    set_setting(OTHER, "12")
    db.session.commit()
    assert get_setting(KEY) == 30 and get_settings([OTHER])[OTHER] == 12
    with Session(db.engine) as other:  # another process: staff on the settings screen
        other.execute(update(Setting).where(Setting.key == KEY).values(value=50))
        other.execute(update(Setting).where(Setting.key == OTHER).values(value=6))
        other.commit()
    db.session.commit()
    assert get_setting(KEY) == 50 and get_settings([OTHER])[OTHER] == 6
    with Session(db.engine) as other:
        other.execute(update(Setting).where(Setting.key == KEY).values(value=60))
        other.commit()
    db.session.rollback()  # a rollback ends the transaction too
    assert get_setting(KEY) == 60
