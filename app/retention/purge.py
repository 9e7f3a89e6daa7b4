"""The retention purge: plan (dry run), execute in small batches, replay after a restore.

How a real run stays safe
-------------------------
* The subjects are customers. The run lists, once, every customer with something past its
  period (and not on legal hold), then works through them in batches of
  ``retention.batch_size`` (500): one short transaction per batch, in which every category is
  purged for those customers, holds are checked again, and one tombstone per customer records
  what was done (categories, action, cut-off date — no personal data). A run killed halfway
  leaves whole batches done and the others untouched: never half a customer.
* Every statement only touches rows still to purge (e.g. a name not yet anonymised), so a
  second run, or a re-run after a crash, finds nothing more to do.
* Files (attachments, uploaded invoice PDFs) are deleted after the commit; their paths are
  written to the run in the batch's transaction, so a crash between commit and deletion is
  repaired by the next run.
* Before each commit the tombstones are also appended (and fsynced) to a journal file outside
  the database (``RETENTION_JOURNAL``, default ``<instance>/retention-journal.jsonl``), so that
  purges done after the last backup can be replayed on a restored database (``replay``). Why
  before and not after the commit: see ``execute``.

Why one module of about 870 lines: every category is purged by the same batched, journalled
procedure, which a compliance officer reviews as one.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from flask import current_app
from sqlalchemy import (
    Text,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.core.models import utcnow
from app.core.sets import one_of
from app.core.settings import get_setting
from app.core.storage import StorageUnavailable, is_key, storage
from app.core.time import business_today
from app.customers.models import Customer
from app.extensions import db
from app.retention import holds
from app.retention.categories import Part, apply_part, customers_with_work, detach, parts
from app.retention.models import RetentionRule, RetentionRun, RetentionTombstone
from app.retention.rules import active_rules

log = logging.getLogger(__name__)

SAMPLES = 5
Progress = Callable[[int, int], None]


def months_before(day: date, months: int) -> date:
    """``day`` minus whole months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def cutoff_for(rule: RetentionRule, as_of: date) -> date:
    return months_before(as_of, int(rule.period_months or 0))


# --- dry run ----------------------------------------------------------------------------------

@dataclass
class Plan:
    as_of: date
    counts: dict[str, dict] = field(default_factory=dict)
    subject_ids: list[int] = field(default_factory=list)
    held_subjects: int = 0
    # (category, part index) -> sorted ids of the customers with rows to purge in that part.
    # A batch runs a part's statements only for these customers: a part with nothing to do
    # costs no statement at all (most parts, for most customers). A row that becomes due
    # after the planning is purged by the next run, as anything due after a run is.
    work: dict[tuple[str, int], array] = field(default_factory=dict)

    @property
    def total_records(self) -> int:
        return sum(c["records"] for c in self.counts.values())


def plan(as_of: date | None = None, after_each_read: Callable[[], None] | None = None) -> Plan:
    """What a run on ``as_of`` would do, per category: rows, customers, sample record ids.

    ``after_each_read`` is called after each query (the real run ends its read transaction
    there, so that planning over 100k customers is many short transactions)."""
    as_of = as_of or business_today()
    done_reading = after_each_read or (lambda: None)
    result = Plan(as_of)
    held: set[int] = set()
    for query in holds.held_customer_queries(as_of):  # one short read per kind of hold
        held.update(db.session.scalars(query))
        done_reading()
    ended = dict(db.session.execute(select(Customer.id, Customer.relationship_ended_on).where(
        Customer.relationship_ended_on.is_not(None))).all())
    done_reading()
    subjects_all: set[int] = set()
    held_with_work: set[int] = set()
    # The rules' values, read once (a commit between reads would expire the ORM rows).
    rules = [(category, rule.action, rule.counts_from, cutoff_for(rule, as_of))
             for category, rule in active_rules().items()]
    done_reading()
    for category, action, counts_from, cutoff in rules:
        by_end = counts_from == "relationship_end"
        records, samples, subjects = 0, [], set()
        for index, part in enumerate(parts()[category]):
            with_work = array("q")
            found = customers_with_work(part, counts_from, cutoff)
            done_reading()  # the rows are read: the transaction ends before the sorting out
            for customer_id, n, first in found:
                if by_end and not (customer_id in ended and ended[customer_id] <= cutoff):
                    continue
                if customer_id in held:
                    held_with_work.add(customer_id)
                    continue
                records += n
                subjects.add(customer_id)
                with_work.append(customer_id)
                if len(samples) < SAMPLES:
                    samples.append(f"{part.name}:{first}")
            if with_work:
                result.work[(category, index)] = array("q", sorted(with_work))
        subjects_all |= subjects
        result.counts[category] = {"action": action, "records": records,
                                   "subjects": len(subjects), "samples": samples,
                                   "cutoff": cutoff.isoformat(),
                                   "counts_from": counts_from}
    result.subject_ids = sorted(subjects_all)
    result.held_subjects = len(held_with_work)
    return result


def dry_run(as_of: date | None = None, triggered_by: str | None = None) -> RetentionRun:
    """Record a dry run (nothing else changes) for the officer to approve."""
    found = plan(as_of)
    run = RetentionRun(dry_run=True, status="done", as_of=found.as_of,
                       triggered_by=triggered_by,
                       counts=dict(found.counts, _subjects=len(found.subject_ids),
                                   _held=found.held_subjects),
                       finished_at=utcnow(), pending_files=[])
    db.session.add(run)
    db.session.commit()
    return run


# --- the real run -----------------------------------------------------------------------------

# Tests replace this to simulate a crash inside a batch (after the SQL, before the commit).
_before_commit: Callable[[list[int]], None] | None = None


@dataclass
class Outcome:
    run_id: int
    counts: dict[str, dict]
    subjects: int
    batches: int
    longest_ms: int
    seconds: float
    # The batches' transactions, middle and 95th percentile (ms): the longest alone may be one
    # batch that waited for the disk or the CPU.
    batch_ms: tuple[int, int] = (0, 0)


# One purge (or replay) at a time, through a lease with a heartbeat (app.core.job_runs): a run
# that has not committed a batch for this long belonged to a process that died.
LEASE = "retention-purge"
STALE_AFTER = timedelta(minutes=10)


class PurgeInProgress(Exception):
    """Another purge is running (its process beat recently)."""


def mark_interrupted(now: datetime | None = None, everything: bool = False) -> int:
    """Runs left "running" by a process that died become "interrupted" (shown on the dashboard).

    ``everything``: the caller holds the lease, so no other purge is alive.
    """
    now = now or utcnow()
    query = update(RetentionRun).where(RetentionRun.status == "running",
                                       RetentionRun.dry_run.is_(False))
    if not everything:
        query = query.where(func.coalesce(RetentionRun.heartbeat_at, RetentionRun.started_at)
                            <= now - STALE_AFTER)
    result = db.session.execute(query.values(
        status="interrupted", finished_at=now,
        error="the process running it stopped; the next run takes over")
        .execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount:
        log.warning("retention: %s purge run(s) interrupted by a dead process", result.rowcount)
    return result.rowcount


@contextmanager
def _one_at_a_time():
    from app.core import job_runs

    try:
        holder = job_runs.acquire_lock(LEASE, STALE_AFTER)
    except job_runs.LockBusy:
        mark_interrupted()  # a live purge may still have left a dead one behind
        raise PurgeInProgress("a retention purge is in progress") from None
    try:
        mark_interrupted(everything=True)
        yield holder
    finally:
        job_runs.release_lock(LEASE, holder)


@contextmanager
def _long_lived_objects_frozen():
    """The objects alive before the run (the app, its models and caches: some 300,000) are
    left out of the garbage collector's passes until it ends. A full pass over them took about
    150 ms on a quiet machine (over a second on a loaded one) inside every 40th or so batch's
    transaction: the run's longest transaction."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _beat(run_id: int, holder: str, **progress) -> None:
    """In the batch's transaction: the run (with its ``progress`` columns, in the same
    statement) and its lease are alive."""
    from app.core import job_runs

    db.session.execute(update(RetentionRun).where(RetentionRun.id == run_id)
                       .values(heartbeat_at=utcnow(), **progress))
    job_runs.heartbeat(LEASE, holder)


def execute(as_of: date | None = None, triggered_by: str | None = None,
            source_run: RetentionRun | None = None, batch_size: int | None = None,
            progress: Progress | None = None) -> Outcome:
    """Purge everything past its period, in batches; see the module docstring.

    PurgeInProgress when another purge runs; a run killed earlier is marked interrupted and
    this one takes over (what it had not done is still past its period: it is purged now)."""
    with _one_at_a_time() as holder, _long_lived_objects_frozen():
        return _execute(as_of, triggered_by, source_run, batch_size, progress, holder)


def _execute(as_of, triggered_by, source_run, batch_size, progress, holder) -> Outcome:
    retry_pending_files()
    as_of = as_of or (source_run.as_of if source_run is not None else None) or business_today()
    batch_size = max(1, int(batch_size or get_setting("retention.batch_size") or 500))
    db.session.commit()
    reads = _ShortReads()
    try:
        found = plan(as_of, after_each_read=reads)
    finally:
        reads.close()
    run = RetentionRun(dry_run=False, status="running", as_of=as_of, triggered_by=triggered_by,
                       counts={}, pending_files=[], heartbeat_at=utcnow(),
                       source_run_id=source_run.id if source_run is not None else None)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    rules = {c: (r.counts_from, cutoff_for(r, as_of), r.action)
             for c, r in active_rules().items()}
    counts = {c: {"action": a, "records": 0, "subjects": 0} for c, (_b, _c, a) in rules.items()}
    started = time.perf_counter()
    longest = reads.longest_ms
    batches = 0
    subjects_done = 0
    durations: list[float] = []
    ids = found.subject_ids
    journal = _JournalWriter(run_id)
    try:
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            t0 = time.perf_counter()
            done, files = _purge_batch(run_id, batch, rules, as_of, counts,
                                       work=found.work, journal=journal.start)
            # The journal is written inside the batch's unit, before its commit. Written after
            # it, a worker killed between the two would leave a committed purge with no journal
            # line, and restoring an older backup would silently bring that customer's data
            # back. This way round the worst case is a line for a batch that never committed:
            # replaying it is harmless, because those customers were past their periods and on
            # no hold when the line was written, and the replay applies the recorded cut-offs
            # (never wider) — what the next run does anyway. A journal that cannot be written
            # fails the batch (rolled back): no purge without its replay record. It is written
            # in a thread while the batch's last statements run (the fsync is most of it).
            _beat(run_id, holder, counts=counts, pending_files=files,
                  longest_transaction_ms=int(longest))
            journal.wait()
            if _before_commit is not None:
                _before_commit(batch)
            db.session.commit()
            elapsed = (time.perf_counter() - t0) * 1000
            longest = max(longest, elapsed)
            durations.append(elapsed)
            batches += 1
            subjects_done += len(done)
            if files:
                left = delete_files(files)
                if left != files:
                    db.session.execute(update(RetentionRun).where(RetentionRun.id == run_id)
                                       .values(pending_files=left))
                    db.session.commit()
            if progress is not None:
                progress(min(start + batch_size, len(ids)), len(ids))
    except BaseException as exc:
        journal.wait(quietly=True)
        db.session.rollback()
        db.session.execute(update(RetentionRun).where(RetentionRun.id == run_id).values(
            status="failed", finished_at=utcnow(), error=repr(exc)[:2000],
            longest_transaction_ms=int(longest)))
        db.session.commit()
        raise
    db.session.execute(update(RetentionRun).where(RetentionRun.id == run_id).values(
        status="done", finished_at=utcnow(), counts=dict(counts, _subjects=subjects_done),
        longest_transaction_ms=int(longest)))
    db.session.commit()
    log.info("retention run %s: %s subjects in %s batches, longest transaction %.0f ms",
             run_id, subjects_done, batches, longest)
    durations.sort()
    middle = (int(durations[len(durations) // 2]),
              int(durations[min(len(durations) - 1, int(len(durations) * .95))])) \
        if durations else (0, 0)
    return Outcome(run_id, counts, subjects_done, batches, int(longest),
                   time.perf_counter() - started, middle)


class _ShortReads:
    """The planning's reads in autocommit: on the server each one is a transaction of its own
    that ends with the statement, so turning its rows (up to one per customer) into Python
    objects and sorting them out runs outside any transaction. Keeps the longest read, timed
    around the statement: "no transaction longer than 500 ms" holds for the planning too.
    Each read followed by a call gives the connection back (its isolation level restored)."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self._since = 0.0
        self._engine = db.engine
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        self._autocommit()

    @staticmethod
    def _autocommit() -> None:
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    def _before(self, *_args) -> None:
        self._since = time.perf_counter()

    def _after(self, *_args) -> None:
        self.longest_ms = max(self.longest_ms, (time.perf_counter() - self._since) * 1000)

    def __call__(self) -> None:
        db.session.commit()
        self._autocommit()

    def close(self) -> None:
        db.session.commit()
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)


def _purge_batch(run_id: int, batch: list[int], rules: dict, as_of: date,
                 counts: dict | None = None, force: bool = False,
                 work: dict[tuple[str, int], array] | None = None,
                 journal: Callable[[list[tuple[str, dict]]], None] | None = None
                 ) -> tuple[list[tuple[str, dict]], list[str]]:
    """Purge ``batch`` (inside the caller's transaction): tombstones added, files returned.

    ``rules``: category -> (counts_from, cutoff, action). ``force`` (erasure, replay): no hold
    or relationship check; cutoff None means every record of the customer. ``work`` (a run's
    plan): per part, the customers it found rows for; a part is applied to those only.
    ``journal``: given the tombstones before they are inserted (a run starts writing them).

    The customer row itself is written last and once (``_apply_subject_row``): several
    categories change it (contact details, the anonymisation), and each UPDATE of it writes a
    new row version into every one of its eight indexes."""
    if force:
        ended: dict = {}
    else:
        batch, ended = _not_held(batch, as_of)
    if not batch:
        return [], []
    files: list[str] = []
    touched: dict[str, set[int]] = {}
    records: dict[str, int] = {}
    subject_row: list[tuple[str, Part, list[int], str | None, date | None, str]] = []
    # table -> customers whose every row in it this batch deleted: a later part on the table
    # has nothing left for them (contact details after the contacts), so no statement.
    emptied: dict = {}
    for category, (basis, cutoff, action) in rules.items():
        if basis == "relationship_end" and not force:
            ids = [i for i in batch if ended.get(i) is not None and ended[i] <= cutoff]
            record_cutoff = None
        else:
            ids = batch
            record_cutoff = cutoff
        if not ids:
            continue
        touched[category], records[category] = set(), 0
        for index, part in enumerate(parts()[category]):
            part_ids = ids if work is None else _among(work.get((category, index)), ids)
            table = _table_of(part)
            if emptied.get(table):
                part_ids = [i for i in part_ids if i not in emptied[table]]
            if not part_ids:
                continue
            if table is Customer.__table__:
                subject_row.append((category, part, part_ids, basis, record_cutoff, action))
                continue
            part_touched, n, found_files = _apply(part, part_ids, basis, record_cutoff, action)
            if _deletes_every_row(part, basis, record_cutoff, action):
                emptied.setdefault(table, set()).update(part_ids)
            touched[category] |= part_touched
            records[category] += n
            files += found_files
    for category, part_touched, n in _apply_subject_row(subject_row):
        touched[category] |= part_touched
        records[category] += n
    details: dict[str, dict] = {}
    categories_of: dict[int, list[str]] = {}
    for category, (basis, cutoff, action) in rules.items():
        if category not in touched:
            continue
        record_cutoff = None if basis == "relationship_end" and not force else cutoff
        details[category] = {"action": action,
                             "before": record_cutoff.isoformat() if record_cutoff else None,
                             "counts_from": basis if record_cutoff else None}
        for customer_id in touched[category]:
            categories_of.setdefault(customer_id, []).append(category)
        if counts is not None:
            entry = counts.setdefault(category, {"action": action, "records": 0, "subjects": 0})
            entry["records"] += records[category]
            entry["subjects"] += len(touched[category])
    # Customers purged in the same categories share one dict: the tombstones and the journal
    # write it once per batch, not once per customer.
    shared: dict[tuple[str, ...], dict] = {}
    done = []
    for customer_id, names in sorted(categories_of.items()):
        cats = shared.get(tuple(names))
        if cats is None:
            cats = shared[tuple(names)] = {c: details[c] for c in names}
        done.append((f"customer:{customer_id}", cats))
    if journal is not None and done:
        journal(done)
    _add_tombstones(run_id, done)
    return done, files


def _deletes_every_row(part: Part, basis: str | None, cutoff: date | None, action: str) -> bool:
    """The part deleted every row its customers had in its table (no condition, no date)."""
    return (action == "delete" and part.deletable and part.pending is true
            and part.guard is None and not part.period_only
            and (cutoff is None or basis not in part.dates))


def _not_held(batch: list[int], as_of: date) -> tuple[list[int], dict[int, date | None]]:
    """The batch without the customers on hold now, and each one's end of relationship: one
    read (the holds are embedded), inside the batch's transaction."""
    customer = Customer.__table__.alias("subject")
    rows = db.session.execute(
        select(customer.c.id, customer.c.relationship_ended_on,
               customer.c.id.in_(holds.held_among_query(batch, as_of)))
        .where(one_of(customer.c.id, batch))).all()
    # A customer on hold exists (every kind of hold points at its row): one not read here has
    # nothing left to purge either.
    held = {row[0] for row in rows if row[2]}
    return [i for i in batch if i not in held], {row[0]: row[1] for row in rows}


def _add_tombstones(run_id: int, done: list[tuple[str, dict]]) -> None:
    """One tombstone per customer. PostgreSQL: one INSERT ... SELECT FROM unnest(subjects) per
    dict of categories (shared by the customers purged alike: in a batch, mostly one), instead
    of a row of parameters per customer that the driver adapts and the server runs one by one
    (the bulk_insert audit event then has no row count: the tombstones are the count)."""
    if not done:
        return
    now = utcnow()

    def row(cats: dict) -> dict:
        return {"run_id": run_id, "executed_at": now, "categories": cats,
                "category": "customer" if "invoices" in cats else next(iter(cats)),
                "action": _summary_action(cats)}

    if db.engine.dialect.name != "postgresql":
        db.session.execute(insert(RetentionTombstone),
                           [dict(row(cats), subject=subject) for subject, cats in done])
        return
    groups: dict[int, tuple[dict, list[str]]] = {}
    for subject, cats in done:
        groups.setdefault(id(cats), (cats, []))[1].append(subject)
    for cats, subjects in groups.values():
        db.session.execute(_tombstones_from_array(), dict(row(cats), subject=subjects))


@lru_cache(maxsize=1)
def _tombstones_from_array():
    table = RetentionTombstone.__table__
    subjects = (func.unnest(bindparam("subject", type_=ARRAY(Text)))
                .table_valued("subject").render_derived())
    names = ["run_id", "category", "action", "categories", "executed_at"]
    return insert(table).from_select(names + ["subject"], select(
        *[bindparam(name, type_=table.c[name].type) for name in names], subjects.c.subject))


def _among(planned: array | None, ids: list[int]) -> list[int]:
    """The ids (sorted, a batch) that the plan found work for in a part."""
    if not planned or not ids:
        return []
    window = planned[bisect_left(planned, ids[0]):bisect_right(planned, ids[-1])]
    if len(window) == len(ids):
        return ids
    wanted = set(window)
    return [i for i in ids if i in wanted]


def _own_column(part: Part) -> bool:
    table = _table_of(part)
    return getattr(part.customer, "table", None) is table


def _apply(part: Part, customer_ids: list[int], basis: str | None, cutoff: date | None,
           action: str) -> tuple[set[int], int, list[str]]:
    """``apply_part`` in one statement where it can be: UPDATE (or DELETE) … RETURNING the
    rows' customers, instead of a SELECT of the rows and then the change. The general path
    (files to collect, attachments, rows shared by customers, a customer found through
    another table) stays in ``apply_part``."""
    table = _table_of(part)
    dialect = db.engine.dialect
    deleting = action == "delete" and part.deletable
    simple = (part.file_column is None and part.name != "customer_request"
              and not part.period_only and _own_column(part)
              and (dialect.delete_returning if deleting else dialect.update_returning))
    if not simple:
        return apply_part(part, customer_ids, basis, cutoff, action)
    where = part.where(customer_ids, basis, cutoff)
    if deleting:
        # Rows pointing at the ones going lose the pointer first (apply_part's detach).
        detach(table, select(table.c.id).where(where))
        statement = delete(table).where(where)
    else:
        values = part.values() if part.values else {}
        if not values:
            return set(), 0, []
        statement = update(table).where(where).values(values)
    rows = db.session.execute(statement.returning(table.c.id, part.customer)).all()
    return {row[1] for row in rows}, len({row[0] for row in rows}), []


def _table_of(part: Part):
    return getattr(part.model, "__table__", part.model)


def _apply_subject_row(entries: list[tuple[str, Part, list[int], str | None, date | None, str]]
                       ) -> list[tuple[str, set[int], int]]:
    """The parts on the customer row, (category, part, customers, basis, cutoff, action) in
    the order of the rules: [(category, customers touched, rows)].

    PostgreSQL: one UPDATE for them all. A CTE reads and locks the rows any part selects,
    with one flag per part (its condition, checked on the row as it is before the change);
    each column takes the value of the last part that selects the row and sets it, as if
    the parts had run one after the other. Elsewhere: one statement per part, in order."""
    if len(entries) < 2 or db.engine.dialect.name != "postgresql" or any(
            not part.values or (action == "delete" and part.deletable)
            for _c, part, _i, _b, _d, action in entries):
        found = []
        for category, part, ids, basis, cutoff, action in entries:
            touched, n, _files = _apply(part, ids, basis, cutoff, action)  # no file on it
            found.append((category, touched, n))
        return found
    table = Customer.__table__
    wheres = [part.where(ids, basis, cutoff) for _c, part, ids, basis, cutoff, _a in entries]
    before = (select(table.c.id, *[w.label(f"part_{i}") for i, w in enumerate(wheres)])
              .where(or_(*wheres)).with_for_update(of=table).cte("before"))
    flags = [before.c[f"part_{i}"] for i in range(len(entries))]
    setters: dict[str, list] = {}
    for flag, (_c, part, _i, _b, _d, _a) in zip(flags, entries):
        for column, value in part.values().items():
            setters.setdefault(column, []).append(
                (flag, bindparam(None, value, type_=table.c[column].type)))
    values = {column: case(*reversed(whens), else_=table.c[column])
              for column, whens in setters.items()}
    rows = db.session.execute(update(table).where(table.c.id == before.c.id).values(values)
                              .returning(table.c.id, *flags)).all()
    return [(category, {row[0] for row in rows if row[i + 1]},
             sum(1 for row in rows if row[i + 1]))
            for i, (category, *_rest) in enumerate(entries)]


def _summary_action(categories: dict) -> str:
    actions = {c["action"] for c in categories.values()}
    return "anonymise" if "anonymise" in actions else "delete"


# --- files ------------------------------------------------------------------------------------

def _key(path: str) -> str | None:
    """A stored path as a key of the file store (None for anything outside it). Rows hold
    keys (requests/12/….pdf); a path under UPLOAD_DIR written out in full is taken as its key
    there, anything else (.., another folder) is never deleted."""
    candidate = path
    if os.path.isabs(path):
        root = Path(current_app.config["UPLOAD_DIR"]).resolve()
        full = Path(path).resolve()
        candidate = full.relative_to(root).as_posix() if root in full.parents else ""
    if not is_key(candidate):
        log.warning("retention: %s is outside the file store; not deleted", path)
        return None
    return candidate


def delete_files(paths: Iterable[str]) -> list[str]:
    """Delete the files; returns the paths that could not be deleted (retried later)."""
    left = []
    for path in paths:
        key = _key(path)
        if key is None:
            continue
        try:
            storage().delete(key)
        except StorageUnavailable:
            log.warning("retention: could not delete %s; retried at the next run", path)
            left.append(path)
    return left


def retry_pending_files() -> int:
    """Delete the files earlier runs could not (crash after commit, file locked)."""
    retried = 0
    runs = db.session.scalars(select(RetentionRun).where(RetentionRun.dry_run.is_(False))).all()
    for run in runs:
        if run.pending_files:
            retried += len(run.pending_files)
            run.pending_files = delete_files(run.pending_files)
    db.session.commit()
    return retried


# --- journal and replay -----------------------------------------------------------------------

def journal_path() -> Path:
    configured = current_app.config.get("RETENTION_JOURNAL")
    if configured:
        return Path(configured)
    return Path(current_app.config["INSTANCE_DIR"]) / "retention-journal.jsonl"


def _journal(done: list[tuple[str, dict]], run_id: int | None = None,
             strict: bool = False, path: Path | None = None) -> None:
    """Append the tombstones to the journal and fsync it (called before the commit).

    ``strict``: a journal that cannot be written raises (the caller rolls back); otherwise it
    is logged and the purge goes on (an erasure decided by staff)."""
    if not done:
        return
    path = path or journal_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().isoformat()
        texts: dict[int, str] = {}  # a dict shared by many customers is encoded once
        tail = f'"at": {json.dumps(stamp)}, "run": {json.dumps(run_id)}}}\n'
        with path.open("a", encoding="utf-8") as handle:
            for subject, categories in done:
                text = texts.get(id(categories))
                if text is None:
                    text = texts[id(categories)] = json.dumps(categories)
                handle.write(f'{{"subject": {json.dumps(subject)}, "categories": {text}, {tail}')
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        if strict:
            raise
        log.exception("retention journal %s could not be written", path)


class _JournalWriter:
    """A run's batch journal (``_journal``, strict) written in a thread: ``start`` with the
    batch's tombstones, ``wait`` before the commit returns once they are fsynced, or raises
    what the write raised (the batch is then rolled back)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.path = journal_path()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, done: list[tuple[str, dict]]) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(done,),
                                        name="retention-journal", daemon=True)
        self._thread.start()

    def _write(self, done: list[tuple[str, dict]]) -> None:
        try:
            _journal(done, self.run_id, strict=True, path=self.path)
        except Exception as exc:  # noqa: BLE001  (any failure: raised again by wait())
            self._error = exc

    def wait(self, quietly: bool = False) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and not quietly:
            raise error


def _tombstones_to_replay(journal: Path | None) -> dict[int, dict]:
    """customer id -> {category: {"action", "before"}} from the journal and the database."""
    found: dict[int, dict] = {}

    def add(subject: str, categories: dict) -> None:
        kind, _sep, raw = subject.partition(":")
        if kind != "customer" or not raw.isdigit():
            return
        merged = found.setdefault(int(raw), {})
        for category, detail in (categories or {}).items():
            old = merged.get(category)
            # Keep the widest: "all records" (before None) or the latest cut-off.
            if old is None or detail.get("before") is None or (
                    old.get("before") is not None and detail["before"] > old["before"]):
                merged[category] = detail

    path = journal if journal is not None else journal_path()
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                add(entry.get("subject", ""), entry.get("categories") or {})
    for subject, categories in db.session.execute(
            select(RetentionTombstone.subject, RetentionTombstone.categories)):
        add(subject, categories or {})
    return found


def replay(journal: Path | None = None, triggered_by: str | None = None,
           batch_size: int | None = None, progress: Progress | None = None) -> Outcome:
    """Apply again every purge recorded in the journal and the tombstones (after a restore).

    Holds and periods are not re-evaluated: the decision was taken when the purge ran. What is
    already purged is left alone, so a replay done twice changes nothing the second time."""
    with _one_at_a_time() as holder, _long_lived_objects_frozen():
        return _replay(journal, triggered_by, batch_size, progress, holder)


def _replay(journal, triggered_by, batch_size, progress, holder) -> Outcome:
    todo = _tombstones_to_replay(journal)
    existing = set(db.session.scalars(select(Customer.id).where(Customer.id.in_(list(todo)))))\
        if todo else set()
    customer_ids = sorted(i for i in todo if i in existing)
    batch_size = max(1, int(batch_size or get_setting("retention.batch_size") or 500))
    run = RetentionRun(dry_run=False, status="running", as_of=business_today(),
                       triggered_by=triggered_by or "replay", counts={}, pending_files=[],
                       heartbeat_at=utcnow())
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    counts: dict[str, dict] = {}
    started, longest, batches, done_total = time.perf_counter(), 0.0, 0, 0
    for start in range(0, len(customer_ids), batch_size):
        batch = customer_ids[start:start + batch_size]
        t0 = time.perf_counter()
        files: list[str] = []
        done_all: list[tuple[str, dict]] = []
        # Customers whose tombstones name the same categories and cut-offs go together.
        groups: dict[str, list[int]] = {}
        for cid in batch:
            groups.setdefault(json.dumps(todo[cid], sort_keys=True), []).append(cid)
        for key, ids in groups.items():
            wanted = json.loads(key)
            rules = {c: (d.get("counts_from") if d.get("before") else None,
                         date.fromisoformat(d["before"]) if d.get("before") else None,
                         d.get("action", "delete"))
                     for c, d in wanted.items() if c in parts()}
            done, more = _purge_batch(run_id, ids, rules, run.as_of, counts, force=True)
            done_all += done
            files += more
        _beat(run_id, holder, counts=counts, pending_files=files)
        db.session.commit()
        longest = max(longest, (time.perf_counter() - t0) * 1000)
        batches += 1
        done_total += len(done_all)
        if files:
            left = delete_files(files)
            db.session.execute(update(RetentionRun).where(RetentionRun.id == run_id)
                               .values(pending_files=left))
            db.session.commit()
        if progress is not None:
            progress(min(start + batch_size, len(customer_ids)), len(customer_ids))
    db.session.execute(update(RetentionRun).where(RetentionRun.id == run_id).values(
        status="done", finished_at=utcnow(), counts=dict(counts, _subjects=done_total),
        longest_transaction_ms=int(longest)))
    db.session.commit()
    return Outcome(run_id, counts, done_total, batches, int(longest),
                   time.perf_counter() - started)


# --- one customer, on request (erasure) --------------------------------------------------------

def purge_customer(customer_id: int, categories: dict[str, str], triggered_by: str
                   ) -> RetentionRun:
    """Purge these categories ({category: action}) of one customer now, whatever the periods
    (an erasure request); recorded as a run with its tombstone, journalled at once (before the
    caller's commit, for the reason given in ``execute``: a journal line for an erasure whose
    commit then fails only repeats, on replay, an erasure staff had approved). The caller
    commits; files are deleted by ``finish_files(run)`` after the commit."""
    run = RetentionRun(dry_run=False, status="done", as_of=business_today(),
                       triggered_by=triggered_by[:100], counts={}, pending_files=[],
                       finished_at=utcnow())
    db.session.add(run)
    db.session.flush()
    counts: dict[str, dict] = {}
    rules = {c: (None, None, a) for c, a in categories.items() if c in parts()}
    done, files = _purge_batch(run.id, [customer_id], rules, run.as_of, counts, force=True)
    run.counts = dict(counts, _subjects=len(done))
    run.pending_files = files
    _journal(done, run.id)
    return run


def finish_files(run: RetentionRun) -> None:
    """After the commit of ``purge_customer``: delete the files."""
    if run.pending_files:
        run.pending_files = delete_files(run.pending_files)
        db.session.commit()


def approve(dry: RetentionRun, user_name: str) -> None:
    """The officer approves a dry run: recorded on it; the real run is queued by the caller."""
    dry.approved_by = user_name[:100]
    dry.approved_at = utcnow()


def last_runs(limit: int = 5) -> list[RetentionRun]:
    return list(db.session.scalars(select(RetentionRun).order_by(RetentionRun.id.desc())
                                   .limit(limit)))

