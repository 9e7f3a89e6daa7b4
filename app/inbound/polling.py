"""Reading the AR mailbox: every enabled and configured "inbound" plugin, restart-safe.

For each mailbox: log in, note the folder's UIDVALIDITY, list the messages not put aside yet,
skip the UIDs already stored under that UIDVALIDITY, fetch the rest in batches (BODY.PEEK:
nothing is marked read), store and understand the batch set-wise (app.inbound.receiving
.receive_many, idempotent by Message-ID; one bad message makes the batch read one by one),
COMMIT once per batch, and only then move or flag the batch in the mailbox. A crash anywhere
leaves the message either unread in the mailbox or stored (and then put aside on the next
poll): nothing is read twice into CreditDesk, nothing is lost. A mailbox that is down is
recorded on its state row (Settings → Plugins, and the replies screen) and tried again at the
next tick.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import job_runs
from app.core.models import utcnow
from app.core.plugins import PluginUnavailable, build, enabled_plugins
from app.core.settings import get_setting
from app.extensions import db
from app.inbound.models import InboundMessage, MailboxState
from app.inbound.receiving import Incoming, receive_many
from app.inbound.settings import MAX_MESSAGE_MB

log = logging.getLogger(__name__)
BATCH = 200
LEASE_STALE = timedelta(minutes=10)


def poll_mailboxes() -> dict[str, Any]:
    """The scheduler's frequent job: read every configured mailbox once."""
    results = {}
    for spec in enabled_plugins("inbound"):
        try:
            mailbox = build(spec.name)
        except PluginUnavailable:
            continue
        if not getattr(mailbox, "is_configured", lambda: True)():
            continue
        results[spec.name] = poll(mailbox, spec.name)
    db.session.commit()
    return results


def state_for(name: str) -> MailboxState:
    state = db.session.get(MailboxState, name)
    if state is None:
        state = MailboxState(name=name, last_uid=0, messages_read=0)
        db.session.add(state)
        db.session.flush()
    return state


def poll(mailbox, name: str, *, limit: int | None = None,
         after_batch=None) -> dict[str, Any]:
    """Read one mailbox; returns counts. ``after_batch(n)`` (tests) runs after each commit."""
    lease = f"inbound-poll-{name}"[:100]
    try:
        holder = job_runs.acquire_lock(lease, LEASE_STALE)
    except job_runs.LockBusy:
        return {"skipped": "another poll is running"}
    counts = {"stored": 0, "already_stored": 0, "put_aside": 0}
    state = state_for(name)
    state.last_poll_at = utcnow()
    db.session.commit()
    try:
        validity = mailbox.open()
        if state.uid_validity != validity:
            # The folder was rebuilt: UIDs mean other messages now. Message-IDs still fold.
            state.uid_validity, state.last_uid = validity, 0
        waiting = mailbox.waiting_uids()
        if limit is not None:
            waiting = waiting[:limit]
        known = _stored_uids(mailbox.name, validity, waiting)
        if known:
            mailbox.put_aside(sorted(known))
            counts["put_aside"] += len(known)
        todo = [uid for uid in waiting if uid not in known]
        max_bytes = int(get_setting(MAX_MESSAGE_MB)) * 1024 * 1024
        for number, start in enumerate(range(0, len(todo), BATCH), start=1):
            chunk = todo[start:start + BATCH]
            _read_batch(mailbox, validity, chunk, max_bytes, counts)
            state.last_uid = max(state.last_uid or 0, *chunk)
            state.messages_read = (state.messages_read or 0) + len(chunk)
            job_runs.heartbeat(lease, holder)
            db.session.commit()  # stored first ...
            mailbox.put_aside(chunk)  # ... then put aside in the mailbox
            counts["put_aside"] += len(chunk)
            if after_batch is not None:
                after_batch(number)
        state.last_success_at, state.last_error = utcnow(), None
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 (the mailbox is down or refused: say so, retry)
        db.session.rollback()
        state = state_for(name)
        state.last_error, state.last_error_at = str(exc)[:1000], utcnow()
        db.session.commit()
        log.warning("mailbox %s could not be read: %s", name, exc)
        counts["error"] = str(exc)[:300]
    finally:
        mailbox.close()
        job_runs.release_lock(lease, holder)
    return counts


def _stored_uids(mailbox_name: str, validity: int, uids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(uids), 900):
        found.update(db.session.scalars(select(InboundMessage.uid).where(
            InboundMessage.mailbox == mailbox_name, InboundMessage.uid_validity == validity,
            InboundMessage.uid.in_(uids[start:start + 900]))))
    return found


def _read_batch(mailbox, validity: int, uids: list[int], max_bytes: int,
                counts: dict[str, int]) -> None:
    sizes = mailbox.sizes(uids)
    whole = [uid for uid in uids if sizes.get(uid, 0) <= max_bytes]
    huge = [uid for uid in uids if sizes.get(uid, 0) > max_bytes]
    fetched: list[Incoming] = []
    for uids_, partial in ((whole, None), (huge, 256 * 1024)):
        fetched.extend(Incoming(uid, raw, partial is not None, sizes.get(uid))
                       for uid, raw in mailbox.fetch(uids_, partial))
    fetched.sort(key=lambda item: item.uid)  # in the mailbox's order, as one by one would
    for result in receive_many(fetched, mailbox=mailbox.name, uid_validity=validity):
        counts["stored" if result.created else "already_stored"] += 1
    seen = {item.uid for item in fetched}
    missing = set(uids) - seen
    if missing:  # listed but not returned (deleted meanwhile?): not put aside, tried again
        raise RuntimeError(f"the server did not return messages {sorted(missing)[:10]}")


def mailbox_status(plugin_name: str) -> list[tuple[Any, Any]]:
    """The plugin's state for Settings → Plugins: last poll, last success, error, counts."""
    from app.core.i18n import moment as datetime_text

    rows = list(db.session.scalars(select(MailboxState).order_by(MailboxState.name)))
    if not rows:
        return [(_("Mailbox"), _("Not read yet (no mailbox configured, or not polled yet)."))]
    shown = []
    for state in rows:
        shown.append((_("Mailbox"), state.name))
        shown.append((_("Last poll"), datetime_text(state.last_poll_at)
                      if state.last_poll_at else "—"))
        shown.append((_("Last successful read"), datetime_text(state.last_success_at)
                      if state.last_success_at else "—"))
        shown.append((_("Messages read"), str(state.messages_read or 0)))
        if state.last_error:
            shown.append((_("Error"), _("%(error)s (at %(at)s); retried at the next poll",
                                        error=state.last_error,
                                        at=datetime_text(state.last_error_at))))
    return shown
