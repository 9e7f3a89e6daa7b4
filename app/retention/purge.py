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

Why one module of about 570 lines: every category is purged by the same batched, journalled
procedure, which a compliance officer reviews as one.
"""
from __future__ import annotations

import json
import logging
import os
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, event, func, insert, select, update

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
    with _one_at_a_time() as holder:
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
    try:
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            t0 = time.perf_counter()
            done, files = _purge_batch(run_id, batch, rules, as_of, counts,
                                       work=found.work)
            # The journal is written inside the batch's unit, before its commit. Written after
            # it, a worker killed between the two would leave a committed purge with no journal
            # line, and restoring an older backup would silently bring that customer's data
            # back. This way round the worst case is a line for a batch that never committed:
            # replaying it is harmless, because those customers were past their periods and on
            # no hold when the line was written, and the replay applies the recorded cut-offs
            # (never wider) — what the next run does anyway. A journal that cannot be written
            # fails the batch (rolled back): no purge without its replay record.
            _journal(done, run_id, strict=True)
            if _before_commit is not None:
                _before_commit(batch)
            _beat(run_id, holder, counts=counts, pending_files=files,
                  longest_transaction_ms=int(longest))
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
    """Ends the planning's read transaction after each query (a commit with nothing to write)
    and keeps the longest, timed from the transaction's BEGIN: "no transaction longer than
    500 ms" holds for the planning too (the sorting out in Python between two reads runs
    outside any transaction and is not counted)."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self._since: float | None = None
        self._session = db.session()
        event.listen(self._session, "after_begin", self._began)

    def _began(self, *_args) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def __call__(self) -> None:
        db.session.commit()
        if self._since is not None:
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - self._since) * 1000)
        self._since = None

    def close(self) -> None:
        event.remove(self._session, "after_begin", self._began)


def _purge_batch(run_id: int, batch: list[int], rules: dict, as_of: date,
                 counts: dict | None = None, force: bool = False,
                 work: dict[tuple[str, int], array] | None = None
                 ) -> tuple[list[tuple[str, dict]], list[str]]:
    """Purge ``batch`` (inside the caller's transaction): tombstones added, files returned.

    ``rules``: category -> (counts_from, cutoff, action). ``force`` (erasure, replay): no hold
    or relationship check; cutoff None means every record of the customer. ``work`` (a run's
    plan): per part, the customers it found rows for; a part is applied to those only."""
    if not force:
        held = holds.held_among(batch, as_of)
        batch = [i for i in batch if i not in held]
    if not batch:
        return [], []
    ended = {} if force else dict(db.session.execute(
        select(Customer.id, Customer.relationship_ended_on).where(one_of(Customer.id, batch))).all())
    by_customer: dict[int, dict] = {}
    files: list[str] = []
    for category, (basis, cutoff, action) in rules.items():
        if basis == "relationship_end" and not force:
            ids = [i for i in batch if ended.get(i) is not None and ended[i] <= cutoff]
            record_cutoff = None
        else:
            ids = batch
            record_cutoff = cutoff
        if not ids:
            continue
        touched_all: set[int] = set()
        records = 0
        for index, part in enumerate(parts()[category]):
            part_ids = ids if work is None else _among(work.get((category, index)), ids)
            if not part_ids:
                continue
            touched, n, found_files = _apply(part, part_ids, basis, record_cutoff, action)
            touched_all |= touched
            records += n
            files += found_files
        for customer_id in touched_all:
            by_customer.setdefault(customer_id, {})[category] = {
                "action": action,
                "before": record_cutoff.isoformat() if record_cutoff else None,
                "counts_from": basis if record_cutoff else None}
        if counts is not None:
            entry = counts.setdefault(category, {"action": action, "records": 0, "subjects": 0})
            entry["records"] += records
            entry["subjects"] += len(touched_all)
    now = utcnow()
    tombstones = [{"run_id": run_id, "subject": f"customer:{cid}",
                   "category": "customer" if "invoices" in cats else next(iter(cats)),
                   "action": _summary_action(cats), "categories": cats, "executed_at": now}
                  for cid, cats in sorted(by_customer.items())]
    if tombstones:
        db.session.execute(insert(RetentionTombstone), tombstones)
    return [(t["subject"], t["categories"]) for t in tombstones], files


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
    table = getattr(part.model, "__table__", part.model)
    return getattr(part.customer, "table", None) is table


def _apply(part: Part, customer_ids: list[int], basis: str | None, cutoff: date | None,
           action: str) -> tuple[set[int], int, list[str]]:
    """``apply_part`` in one statement where it can be: UPDATE (or DELETE) … RETURNING the
    rows' customers, instead of a SELECT of the rows and then the change. The general path
    (files to collect, attachments, rows shared by customers, a customer found through
    another table) stays in ``apply_part``."""
    table = getattr(part.model, "__table__", part.model)
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
             strict: bool = False) -> None:
    """Append the tombstones to the journal and fsync it (called before the commit).

    ``strict``: a journal that cannot be written raises (the caller rolls back); otherwise it
    is logged and the purge goes on (an erasure decided by staff)."""
    if not done:
        return
    path = journal_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().isoformat()
        with path.open("a", encoding="utf-8") as handle:
            for subject, categories in done:
                handle.write(json.dumps({"subject": subject, "categories": categories,
                                         "at": stamp, "run": run_id}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        if strict:
            raise
        log.exception("retention journal %s could not be written", path)


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
    with _one_at_a_time() as holder:
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

