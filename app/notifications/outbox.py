"""The outbox: every message is a row created in the transaction of the event that caused it.

``queue_message`` renders the message for each channel the customer wants and adds Message rows
to the caller's session; nothing is sent until the caller commits. After the commit, one
delivery job per message is enqueued (app.notifications.jobs.deliver_message). If the process
dies between commit and enqueue, the periodic sweep (deliver_due_messages) picks the row up:
a message is never lost, and the idempotency key makes a repeated event a no-op.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from blinker import Namespace
from sqlalchemy import JSON, String, event, inspect, select, update
from sqlalchemy.orm import Session, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.core.models import utcnow
from app.core.sets import one_of, where_in
from app.customers.models import Customer
from app.extensions import db
from app.notifications.context import base_context, company_view, public_url
from app.notifications.message_links import LinkRequest, make_links
from app.notifications.models import Message
from app.notifications.rendering import active_template, render_template

log = logging.getLogger(__name__)
_PENDING = "creditdesk_outbox_pending"
_PENDING_KEYS = "creditdesk_outbox_pending_keys"
_CACHE = "creditdesk_outbox_cache"
_KNOWN = "creditdesk_outbox_known_keys"
# Sent by queue_message for every event (sender: the customer), so that another domain can
# add its own outbox rows in the same transaction without the senders knowing it (e.g. the
# customers' webhooks, app/customer_api/webhooks.py). Keyword arguments: event, context,
# idempotency_key.
message_queued = Namespace().signal("creditdesk.message_queued")


class NoRecipient(ValueError):
    """The customer has no address for this channel (e.g. SMS without a phone number)."""


def channels_for(customer: Customer, *, dunning: bool = False, wanted: Iterable[str] | None = None
                 ) -> list[str]:
    """The channels a message goes out on, following the customer's preferences.

    Paper customers get letters instead of e-mail; SMS only with the customer's opt-in and a
    phone number; ``wanted`` narrows to the channels an event or dunning level asks for.
    """
    wanted = list(wanted) if wanted is not None else ["email", "sms"]
    chosen: list[str] = []
    if "email" in wanted or "letter" in wanted:
        if customer.delivery_channel == "paper" or not _email_for(customer, dunning):
            chosen.append("letter")
        else:
            chosen.append("email")
    if "sms" in wanted and customer.sms_reminders and customer.phone:
        chosen.append("sms")
    if "webhook" in wanted:
        chosen.append("webhook")
    return chosen


def _email_for(customer: Customer, dunning: bool) -> str | None:
    if dunning:
        reminder = next((c for c in customer.contacts if c.role == "reminder" and c.email), None)
        if reminder is not None:
            return reminder.email
    billing = next((c for c in customer.contacts if c.role == "billing" and c.email), None)
    return customer.email or (billing.email if billing else None)


def recipient_for(customer: Customer, channel: str, dunning: bool = False) -> str:
    if channel == "email":
        address = _email_for(customer, dunning)
    elif channel == "sms":
        address = customer.phone
    elif channel == "letter":
        postal = next((a for a in customer.addresses if a.kind == "postal"), None) or next(
            iter(customer.addresses), None)
        address = "\n".join([customer.name, *postal.lines()]) if postal else None
    elif channel == "webhook":
        address = f"customer:{customer.number}"
    else:
        address = None
    if not address:
        raise NoRecipient(f"{customer.number} has no {channel} address")
    return address


def queue_message(customer: Customer, *, event: str, template_key: str, context: dict[str, Any],
                  idempotency_key: str, channels: Iterable[str] | None = None,
                  dunning: bool = False, attachments: list[dict] | None = None,
                  language: str | None = None, recipient: str | None = None,
                  secrets: dict[str, Any] | None = None,
                  secret_valid_until: datetime | None = None,
                  links: Mapping[str, LinkRequest] | None = None) -> list[Message]:
    """Add the message(s) for ``event`` to the session; the caller commits.

    The same ``idempotency_key`` never produces a second message on a channel: the existing row
    is returned instead (so re-running a job, or a double click, sends nothing twice).

    ``context`` holds the event's values (amounts as Decimal, dates as date: templates format
    them with |money and |date in the customer's language); ``customer``, ``company`` and
    ``portal_url`` are added. ``attachments`` lists invoice PDFs to attach, as
    ``[{"invoice_id": 12}, ...]``. ``recipient`` sends to that address on exactly the
    ``channels`` given, whatever the customer's preferences (a log-in link goes to the e-mail
    typed in, even for a paper customer).

    ``secrets`` marks the values a staff member must never read (a sign-in link, a code): it
    maps those context keys to a harmless stand-in (``hidden_link``, ``HIDDEN``). The stored
    message is rendered with the stand-ins; the real text is sealed for the delivery job alone
    (see ``seal``), until ``secret_valid_until`` at the latest.

    ``links`` maps context keys to links made for each message written (a pay link made by
    app.paylinks, bound to that message): see app/notifications/message_links.py. They are
    secrets too (shown with their token hidden).
    """
    language = language or customer.language or "en"
    session = db.session()
    # Lookups must not flush the rows queued so far: they are written in one go at the
    # commit (and the ones of this transaction are found in _PENDING_KEYS).
    with session.no_autoflush:
        cache = _transaction_cache(session)
        if recipient is not None:
            chosen = list(channels or ["email"])
        else:
            chosen = channels_for(customer, dunning=dunning, wanted=channels)
            if "webhook" not in chosen and _webhook_wants(event, cache):
                chosen.append("webhook")
        # The caller's values win (e.g. a portal deep link as portal_url), but templates always see
        # the customer as display values, never as an ORM object they could walk from.
        if "company" not in cache:
            cache["company"] = company_view()
            cache["portal_url"] = public_url("/portal/")
        base = base_context(customer, company=cache["company"], portal_url=cache["portal_url"])
        full_context = {**base, **context, "customer": base["customer"]}
        messages = []
        for channel in chosen:
            key = f"{idempotency_key}:{channel}"
            existing = _find_existing(session, key)
            if existing is not None:
                messages.append(existing)
                continue
            try:
                address = recipient or recipient_for(customer, channel, dunning)
            except NoRecipient:
                log.warning("no %s address for customer %s: %s not sent on %s", channel,
                            customer.number, event, channel)
                continue
            # A webhook carries the e-mail wording (subject and text) with the event's data.
            template_channel = "email" if channel == "webhook" else channel
            lookup = (template_key, template_channel, language)
            if lookup not in cache:
                cache[lookup] = active_template(*lookup)
            message = Message(customer=customer, channel=channel, recipient=address,
                              event=event, attachments=_clean_attachments(attachments),
                              status="queued", idempotency_key=key, next_attempt_at=utcnow())
            values, hidden, until = full_context, secrets or {}, secret_valid_until
            if links:
                values, hidden, until = _with_links(customer, message, links, values, hidden,
                                                    until)
            try:
                rendered = render_template(cache[lookup], values)
                shown = (render_template(cache[lookup], {**values, **hidden})
                         if hidden else rendered)
            except Exception:
                if message in session:  # a link made for it may have added it: never half-made
                    session.expunge(message)
                raise
            message.language, message.template = rendered.template.language, rendered.template
            message.subject, message.body_text = shown.subject, shown.text
            message.body_html = shown.html if channel == "email" else None
            if hidden:
                seal(message, rendered.subject, rendered.text,
                     rendered.html if channel == "email" else None, until)
            session.add(message)
            _remember(session, message)
            messages.append(message)
        message_queued.send(customer, event=event, context=full_context,
                            idempotency_key=idempotency_key)
        return messages


def _with_links(customer: Customer, message: Message, links: Mapping[str, LinkRequest],
                values: dict[str, Any], hidden: dict[str, Any], until: datetime | None
                ) -> tuple[dict[str, Any], dict[str, Any], datetime | None]:
    """The context with the links made for this message, their stand-ins for the stored copy,
    and until when the sealed wording is needed (the earliest expiry)."""
    values, hidden = dict(values), dict(hidden)
    for key, made in make_links(customer, message, links).items():
        if made is None:
            values[key] = links[key].fallback
            continue
        values[key], hidden[key] = made.url, hidden_link(made.url)
        if made.valid_until is not None:
            until = made.valid_until if until is None else min(until, made.valid_until)
    return values, hidden, until


# --- secrets in messages ----------------------------------------------------------------------
# What staff see instead of a secret: language-neutral, and obviously not a working link/code.
HIDDEN = "••••••"
# The events whose messages carry a secret (see services.py: they pass ``secrets``).
SECRET_EVENTS = frozenset({"magic_link", "email_change_confirmation", "sms_confirmation_code"})


def hidden_link(url: str) -> str:
    """The link with its token (last path segment) hidden: where it leads stays readable."""
    head, _sep, _token = url.rstrip("/").rpartition("/")
    return f"{head}/{HIDDEN}" if head else HIDDEN


def seal(message: Message, subject: str | None, text: str, html: str | None,
         valid_until: datetime | None = None) -> None:
    """Keep the real wording of ``message`` encrypted, for the delivery job only.

    The message's own subject/body hold the wording with the secret hidden: that is what every
    staff screen, export, API and timeline reads. The sealed copy is wiped once the message is
    delivered or given up, and is refused after ``valid_until``.
    """
    from app.core import crypto

    payload = {"subject": subject, "text": text, "html": html,
               "until": valid_until.isoformat() if valid_until else None}
    message.sealed_body = crypto.encrypt(json.dumps(payload))


class SecretExpired(Exception):
    """The sealed secret is past its validity: sending it would only send a dead link."""


_UNREAD = object()


def sealed_bodies(message_ids: list[int]) -> dict[int, str]:
    """The sealed wording of those of these messages that carry a secret, in one query (a
    delivery batch reads them together; most messages have none)."""
    return dict(db.session.execute(
        select(Message.id, Message.sealed_body)
        .where(one_of(Message.id, message_ids), Message.sealed_body.is_not(None))).all())


@contextmanager
def revealed(message: Message, sealed: str | None | object = _UNREAD) -> Iterator[None]:
    """While the channel plugin sends ``message``, it carries its real wording.

    Only the loaded object changes (committed values: the session never writes them back), and
    it is put back to the hidden wording afterwards, whatever happens. ``sealed``: the sealed
    wording already read with its batch (``sealed_bodies``); else it is read here.
    """
    from app.core import crypto

    if sealed is _UNREAD:
        sealed = db.session.scalar(select(Message.sealed_body).where(Message.id == message.id))
    if not sealed:
        yield
        return
    payload = json.loads(crypto.decrypt(sealed))
    until = payload.get("until")
    if until and datetime.fromisoformat(until) <= utcnow():
        raise SecretExpired(f"the secret expired at {until} before the message could be sent")
    shown = {"subject": message.subject, "body_text": message.body_text,
             "body_html": message.body_html}
    real = {"subject": payload.get("subject"), "body_text": payload.get("text") or "",
            "body_html": payload.get("html") if message.body_html is not None else None}
    try:
        for name, value in real.items():
            set_committed_value(message, name, value)
        yield
    finally:
        for name, value in shown.items():
            set_committed_value(message, name, value)


def wipe_secret(message_id: int) -> None:
    """Forget a message's sealed secret (the caller commits)."""
    db.session.execute(update(Message).where(Message.id == message_id)
                       .values(sealed_body=None).execution_options(synchronize_session=False))


# Every channel a message of one event can go out on (each has its own idempotency key).
CHANNELS = ("email", "letter", "sms", "webhook")


def already_queued(idempotency_key: str) -> bool:
    """Whether this event's message was queued before, on any channel (this transaction too).

    An event helper asks before it makes something only a new message needs, such as a portal
    deep link: a repeated event renders nothing and so should make nothing.
    """
    session = db.session()
    keys = [f"{idempotency_key}:{channel}" for channel in CHANNELS]
    pending = session.info.get(_PENDING_KEYS, {})
    if any(key in pending for key in keys):
        return True
    known = session.info.get(_KNOWN, {})
    if all(key in known for key in keys):  # looked up with its batch (prepare_batch)
        return any(known[key] is not None for key in keys)
    with session.no_autoflush:
        return session.scalar(select(Message.id).where(Message.idempotency_key.in_(keys))
                              .limit(1)) is not None


def _transaction_cache(session: Session) -> dict:
    """Templates, company details and settings read once per transaction, not per message."""
    return session.info.setdefault(_CACHE, {})


def _find_existing(session: Session, key: str) -> Message | None:
    pending = session.info.get(_PENDING_KEYS, {}).get(key)
    if pending is not None:  # queued earlier in this transaction, not yet in the database
        return pending
    known = session.info.get(_KNOWN, {})
    if key in known:  # looked up with the rest of its batch (prepare_batch)
        return known[key]
    return session.scalar(select(Message).where(Message.idempotency_key == key))


def prepare_batch(customers: Iterable[Customer], idempotency_keys: Iterable[str]) -> None:
    """Before queueing many messages in one transaction: read what they need in a few queries.

    The customers' contacts and addresses (who a message goes to) and the messages already
    queued under these event keys (on every channel) are each read once for the batch, instead
    of once per message. Keys not found are remembered as free for this transaction; a message
    another process queues under one of them meanwhile is still never written twice (the
    insert skips a key that exists, see _insert_queued).
    """
    session = db.session()
    with session.no_autoflush:
        # The ids from the identity keys: reading .id of a customer expired by the last
        # commit would reload it, one query each (what this is here to avoid).
        identities = (inspect(c).identity for c in customers)
        ids = list(dict.fromkeys(key[0] for key in identities if key))
        for condition in where_in(Customer.id, ids):
            session.scalars(select(Customer).where(condition)
                            .options(selectinload(Customer.contacts),
                                     selectinload(Customer.addresses))).all()
        keys = [f"{key}:{channel}" for key in dict.fromkeys(idempotency_keys)
                for channel in CHANNELS]
        known = session.info.setdefault(_KNOWN, {})
        known.update((key, None) for key in keys)
        for condition in where_in(Message.idempotency_key, keys):
            known.update((m.idempotency_key, m) for m in session.scalars(
                select(Message).where(condition)))


def _clean_attachments(attachments: list | None) -> list[dict]:
    """Invoice ids, as [{"invoice_id": 12}]: plain ids are accepted too."""
    cleaned = []
    for item in attachments or []:
        if isinstance(item, int):
            item = {"invoice_id": item}
        cleaned.append(dict(item))
    return cleaned


def _webhook_wants(event: str, cache: dict) -> bool:
    """Whether staff asked for this event to be posted to the webhook plugin as well."""
    from app.core.settings import get_setting

    if "webhook_events" not in cache:
        setting = str(get_setting("notifications.webhook_events") or "")
        cache["webhook_events"] = {e.strip() for e in setting.split(",")} - {""}
    wanted = cache["webhook_events"]
    return bool(wanted) and ("*" in wanted or event in wanted)


def find_queued(idempotency_key: str) -> Message | None:
    """The message queued under exactly this key (a per-channel key, e.g. "<event key>:wh3"),
    earlier in this transaction or before it; None if there is none.

    For a domain that builds its own outbox rows (``add_queued``) and must not write one twice.
    Reads without flushing: the rows queued so far stay for the batch INSERT.
    """
    session = db.session()
    with session.no_autoflush:
        return _find_existing(session, idempotency_key)


def add_queued(message: Message) -> Message:
    """Queue a message a domain built itself (status "queued", its own unique
    ``idempotency_key``) in the caller's transaction, exactly as ``queue_message`` queues its
    own: written with the batch INSERT at the flush, its delivery job enqueued after the
    commit, forgotten on rollback. Ask ``find_queued`` first. The caller commits."""
    session = db.session()
    session.add(message)
    _remember(session, message)
    return message


def _remember(session: Session, message: Message) -> None:
    session.info.setdefault(_PENDING, []).append(message)
    session.info.setdefault(_PENDING_KEYS, {})[message.idempotency_key] = message


# Messages are delivered in batches: one job (one forked work horse, one SMTP connection) per
# batch instead of one per message, while a batch stays short enough to spread over all
# workers (a batch job of 500 messages is two). The fork of a job costs about as much as
# sending a hundred e-mails (issue 22), hence 250.
DELIVERY_BATCH = 250


@event.listens_for(Session, "before_flush")
def _insert_queued(session: Session, _flush_context, _instances) -> None:
    """Write the messages queued since the last flush as one multi-row INSERT.

    A key that exists already (another process queued the same event meanwhile) is skipped
    (ON CONFLICT DO NOTHING on the unique idempotency key): that message is not written and
    gets no id, so nothing is sent twice. The written ones become ordinary loaded rows.
    """
    pending = session.info.get(_PENDING)
    if not pending:
        return
    new = session.new
    queued = [m for m in pending if m.id is None and m in new and _insertable(m)]
    if not queued:
        return
    rows = [_row_values(m) for m in queued]
    by_key = {m.idempotency_key: m for m in queued}
    for message in queued:
        session.expunge(message)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        written = _insert_arrays(connection, rows)
    else:
        insert = _dialect_insert(session)
        statement = (insert(Message).on_conflict_do_nothing(index_elements=["idempotency_key"])
                     .returning(Message.id, Message.idempotency_key))
        written = connection.execute(statement, rows).all()
    for message_id, key in written:
        message = by_key.pop(key)
        message.id = message_id
        make_transient_to_detached(message)
        session.add(message)
        # Written in this transaction: a rollback must forget it again (expunged, as the ORM
        # does for the rows its own flush inserted) rather than keep a row that never was.
        transaction = session.get_transaction()
        if transaction is not None:
            transaction._new[inspect(message)] = True
    for key, message in by_key.items():
        log.info("message %s was queued by another process meanwhile: not written twice", key)
        session.info.get(_PENDING_KEYS, {}).pop(key, None)
    if by_key:
        skipped = {id(m) for m in by_key.values()}
        session.info[_PENDING] = [m for m in session.info.get(_PENDING, [])
                                  if id(m) not in skipped]


def _insertable(message: Message) -> bool:
    """Only messages whose related rows already have ids (else the ORM flush orders them)."""
    state = inspect(message)
    if "print_batch" in state.dict and state.dict["print_batch"] is not None:
        return False
    for name in ("customer", "template"):
        related = state.dict.get(name)
        if related is not None and related.id is None:
            return False
    return True


_COLUMNS = None


def _row_values(message: Message) -> dict[str, Any]:
    """Every column of the row (defaults filled in here, so the object needs no reload)."""
    global _COLUMNS
    if _COLUMNS is None:
        _COLUMNS = [(attr.key, attr.columns[0]) for attr in inspect(Message).column_attrs
                    if attr.key != "id"]
    state = inspect(message)
    values = {}
    for key, column in _COLUMNS:
        if key in state.dict:
            value = state.dict[key]
        elif column.default is not None and column.default.is_scalar:
            value = column.default.arg
        elif column.default is not None and column.default.is_callable:
            value = column.default.arg(None)
        else:
            value = None
        values[key] = value
        set_committed_value(message, key, value)
    for name, column_key in (("customer", "customer_id"), ("template", "template_id")):
        related = state.dict.get(name)
        if related is not None:
            values[column_key] = related.id
            set_committed_value(message, column_key, related.id)
    return values


_ARRAY_INSERT = None


def _insert_arrays(connection, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """PostgreSQL: the rows as one array per column (INSERT ... SELECT FROM unnest(...)), with
    the same ON CONFLICT DO NOTHING. One fixed statement with a parameter per column, which the
    driver parses once and the server prepares, instead of a VALUES list of twenty parameters
    per row that the driver rewrote for every batch (a third of the producer's time at 500
    messages a commit, issue 22). Values go through each column type's own bind processing."""
    global _ARRAY_INSERT
    if _ARRAY_INSERT is None:
        dialect = connection.dialect
        columns = [c for c in Message.__table__.columns if c.key != "id"]
        sql = (f"INSERT INTO {Message.__table__.name} "
               f"({', '.join(c.name for c in columns)}) SELECT * FROM unnest("
               + ", ".join(f"%({c.key})s::{_array_type(c, dialect)}[]" for c in columns)
               + ") ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key")
        _ARRAY_INSERT = (sql, [(c.key, _json_text if isinstance(c.type, JSON)
                                else c.type.bind_processor(dialect)) for c in columns])
    sql, columns = _ARRAY_INSERT
    arrays = {key: [process(row[key]) if process else row[key] for row in rows]
              for key, process in columns}
    return list(connection.exec_driver_sql(sql, arrays).all())


def _array_type(column, dialect) -> str:
    """The element type of a column's array: text for every string column, so that a value
    too long for its column is refused by the INSERT as before (a cast to varchar(n) would
    cut it short without a word, and a cut idempotency key could even fold two messages)."""
    return "TEXT" if isinstance(column.type, String) else column.type.compile(dialect)


def _json_text(value: Any) -> str | None:
    """A JSON value as text, for a text array cast to json[] (the driver's own JSON adapter
    would nest a list into the array)."""
    return None if value is None else json.dumps(value)


def _dialect_insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    session.info.pop(_CACHE, None)
    session.info.pop(_KNOWN, None)
    session.info.pop(_PENDING_KEYS, None)
    pending = session.info.pop(_PENDING, [])
    ids = [m.id for m in pending if m.id is not None]
    if ids:
        enqueue_delivery(ids)


def enqueue_delivery(ids: list[int]) -> None:
    """Queue delivery jobs for these messages; if the queue is down, the sweep sends them."""
    from app.jobs import enqueue

    for start in range(0, len(ids), DELIVERY_BATCH):
        batch = ids[start:start + DELIVERY_BATCH]
        try:
            # No fixed job id: an old finished job of the same name (another database on the
            # same Redis, a restored backup) must not stop this one from running.
            enqueue("app.notifications.jobs.deliver_messages", batch)
        except Exception:  # the row is safe in the database: deliver_due_messages sends it
            log.exception("could not enqueue delivery of messages %s", batch)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_KNOWN, None)
    session.info.pop(_PENDING_KEYS, None)
    session.info.pop(_CACHE, None)


def due_for_delivery(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Queued messages whose time has come (used by the sweep after a crash or a retry delay)."""
    now = now or utcnow()
    return list(db.session.scalars(
        select(Message.id).where(Message.status == "queued", Message.next_attempt_at <= now)
        .order_by(Message.id).limit(limit)
    ))
