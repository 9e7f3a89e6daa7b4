"""Costly staff figures kept as snapshots that say how fresh they are.

A figure that reads a large part of the book (the DSO trend over twelve months of invoices, the
dunning dry run of every customer) is not recomputed on each page view: the page shows the
last snapshot with its time ("as of 14:05"). A snapshot older than its ``max_age`` is still
shown once more while a job computes the next one, so no page view waits for it; only the very
first view (no snapshot yet) computes it in the request. Staff may ask for a fresh one.

Payloads are JSON: the caller encodes its figure (Decimals as strings) and decodes it back.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_appbuilder import Model
from sqlalchemy import JSON, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import UTCDateTime, utcnow
from app.extensions import db

log = logging.getLogger(__name__)


class FigureSnapshot(Model):
    __tablename__ = "figure_snapshot"
    # The figure and its parameters, e.g. "dso:2026-12-07" or "dry-run:2026-12-07".
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[Any] = mapped_column(JSON)


@dataclass(frozen=True)
class Snapshot:
    value: Any
    computed_at: datetime
    refreshing: bool = False  # an older snapshot, shown while the next one is computed


# Registered figures: name prefix -> (compute, encode) for the refresh job.
_FIGURES: dict[str, tuple[Callable[[str], Any], Callable[[Any], Any]]] = {}


def register_figure(prefix: str, compute: Callable[[str], Any],
                    encode: Callable[[Any], Any]) -> None:
    """``compute(name)`` makes the figure for a snapshot name starting with ``prefix:``."""
    _FIGURES[prefix] = (compute, encode)


def snapshot(name: str, max_age: timedelta, decode: Callable[[Any], Any],
             fresh: bool = False, stand_in: str | None = None) -> Snapshot:
    """The figure ``name``: its snapshot, refreshed in the background once older than
    ``max_age``; computed now when there is none yet or ``fresh`` is asked.

    ``stand_in``: a LIKE pattern of older snapshots that may be shown while ``name`` is computed
    in the background (yesterday's DSO trend on the first view of a day): the newest one is
    returned, marked refreshing, with its own time.
    """
    row = db.session.get(FigureSnapshot, name)
    if row is None and stand_in is not None and not fresh:
        older = db.session.scalar(select(FigureSnapshot).where(
            FigureSnapshot.name.like(stand_in)).order_by(FigureSnapshot.computed_at.desc())
            .limit(1))
        if older is not None:
            _refresh_later(name, max_age)
            return Snapshot(decode(older.payload), older.computed_at, True)
    if row is None or fresh:
        return Snapshot(decode(_store(name)), utcnow())
    refreshing = utcnow() - row.computed_at > max_age
    if refreshing:
        _refresh_later(name, max_age)
    return Snapshot(decode(row.payload), row.computed_at, refreshing)


def refresh(name: str, max_age_seconds: float = 0) -> None:
    """Job: compute the figure ``name`` again and keep it (committed), unless another job did
    so meanwhile (several page views of a stale figure queue several jobs; one computes)."""
    row = db.session.get(FigureSnapshot, name)
    if row is not None and utcnow() - row.computed_at <= timedelta(seconds=max_age_seconds):
        return
    _store(name)


def _store(name: str) -> Any:
    compute, encode = _FIGURES[name.split(":", 1)[0]]
    payload = encode(compute(name))
    # One row per figure, replaced: a merge by primary key (insert or update).
    db.session.merge(FigureSnapshot(name=name, computed_at=utcnow(), payload=payload))
    try:
        db.session.commit()
    except IntegrityError:  # another process stored the first snapshot at the same moment
        db.session.rollback()
    return payload


def _refresh_later(name: str, max_age: timedelta) -> None:
    from app.jobs import enqueue

    try:
        enqueue("app.core.snapshots.refresh", name, max_age.total_seconds())
    except Exception:  # the old snapshot stays shown; the next view tries again
        log.exception("could not queue the refresh of %s", name)


def latest(name: str) -> FigureSnapshot | None:
    return db.session.scalar(select(FigureSnapshot).where(FigureSnapshot.name == name))
