"""The audit trail: who created, changed, deleted or looked at which record, when, from where.

One automatic mechanism, SQLAlchemy session events on every session of the app:

* ``after_flush``: one AuditEvent per inserted, updated or deleted ORM object of a domain
  model, written with one multi-row INSERT on the flush's own connection (so it commits or
  rolls back with the change itself, and costs one statement per flush).
* ``do_orm_execute``: set-wise statements (``session.execute(update(Invoice), rows)`` in the
  dunning run, ``table.insert()`` in the statement import) bypass the ORM's unit of work; they
  are summed per table and action and written as ONE "bulk_*" event per transaction, in
  ``before_commit``. Statements sent on a raw driver connection (the PostgreSQL COPY of the
  statement import) are not seen: the import's own report and the statement row record those.
* ``record_view``: staff opening the show or edit page of a customer's personal data
  (app/core/admin.py StaffModelView calls it).

What is recorded: the actor (staff user / portal customer / API user / job / command line),
the client IP (X-Forwarded-For only when TRUSTED_PROXY_COUNT says how many proxies to trust,
through create_app's ProxyFix),
the record (table name and id, and its customer), and the NAMES of the changed fields. Values
are copied only for the fields in VALUE_FIELDS: codes and states that say nothing about a person
(a status, a language, a flag); never names, addresses, e-mails, IBANs, amounts or free text.

Not audited (EXCLUDED_TABLES), and why: the audit table itself; technical rows written on every
request or message (portal sessions and magic links, SMS codes, number sequences); the outbox
(``message``: its rows are already the log of what was sent, with status and times); statement
lines and statements (written set-wise by the import, 100,000 lines must stay fast; matching
them is audited as allocations and payments); dunning actions (the run's own history);
retention tombstones (the purge's own log). Fields that change on their own (updated_at, the
denormalised balance, login counters) do not make an update worth an event (IGNORED_FIELDS).

It lives in core, with its table (app/core/audit_models.py), because every layer writes to it:
payments book, customers' API keys are used, pay links are refused. The screen that lists the
events is app/retention/audit_views.py; the purge and the data-subject export are retention's.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import MANYTOONE

from app.core.audit_models import AuditEvent
from app.core.job_runs import current_job
from app.core.models import utcnow
from app.core.signals import record_viewed, setting_changed

AUDIT_TABLE = AuditEvent.__table__
EXCLUDED_TABLES = frozenset({
    "audit_event", "portal_access", "sms_code", "number_sequence", "message",
    "statement_line", "bank_statement", "dunning_action", "dunning_action_invoice",
    "retention_tombstone", "alembic_version",
    # staff sign-in bookkeeping (app/core/staff_auth_models.py): a row per sign-in and per
    # failed attempt, written by anyone who types at the login form
    "staff_session", "staff_login_failure",
})
# FAB's permission bookkeeping (synced from app/core/roles.py, not edited by people).
FAB_TECHNICAL = ("ab_permission", "ab_view_menu", "ab_register_user")
# Bulk statements on these are not summarised either (technical, or the audit table itself).
BULK_EXCLUDED_TABLES = frozenset({"audit_event", "number_sequence", "portal_access", "sms_code",
                                  "staff_session", "staff_login_failure"})
IGNORED_FIELDS = frozenset({
    "created_at", "updated_at", "changed_on", "changed_by_fk", "created_on", "created_by_fk", "balance",
    "iban_hash", "last_login", "login_count", "fail_login_count", "last_used_on", "last_step",
})
# Values kept as "old → new" in the event's detail: states and codes, nothing personal.
VALUE_FIELDS = frozenset({
    "status", "legal_status", "delivery_channel", "payment_method", "language", "purpose",
    "kind", "scheme", "sequence", "role", "active", "portal_access", "sms_reminders",
    "dunning_blocked", "currency", "channel", "rule", "dry_run", "counts_from", "action",
    "period_months", "dunning_policy_id", "dunning_level_id",
})
# Screens whose show/edit pages display a customer's personal data: opening them is logged.
PERSONAL_VIEW_ENTITIES = frozenset({"customer", "contact", "address", "bank_account", "mandate"})
_DISABLED = "creditdesk_audit_disabled"
_BULK = "creditdesk_audit_bulk"


# --- who and from where ---------------------------------------------------------------------

def client_ip() -> str | None:
    """The client's address. Behind TRUSTED_PROXY_COUNT proxies, create_app's ProxyFix has
    already put what the first trusted proxy saw into remote_addr (never a value the client
    chose), so every part of the app reads the same address."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:45] or None


def _identity(obj: Any) -> Any:
    try:
        identity = inspect(obj).identity
    except NoInspectionAvailable:  # not a mapped object (e.g. an anonymous user)
        return getattr(obj, "id", None)
    return identity[0] if identity else None


def _username(connection, user: Any) -> str | None:
    """The staff user's login name without touching the ORM object (it may be expired, and
    loading it in the middle of a flush is not allowed)."""
    state_dict = getattr(user, "__dict__", {})
    if state_dict.get("username"):
        return state_dict["username"]
    user_id = _identity(user)
    if user_id is None:
        return None
    cache = g.setdefault("_audit_usernames", {})
    if user_id not in cache:
        from flask_appbuilder.security.sqla.models import User

        cache[user_id] = connection.execute(
            select(User.__table__.c.username).where(User.__table__.c.id == user_id)).scalar()
    return cache[user_id]


def _api_user() -> Any:
    if getattr(g, "_api_key_user", False) and getattr(g, "user", None) is not None:
        return g.user
    try:
        from flask_jwt_extended import get_current_user

        user = get_current_user()
    except RuntimeError:  # no JWT verified in this request
        user = None
    if user is not None:
        return user
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None


def current_actor(connection=None) -> tuple[str, str | None]:
    """(actor_type, actor) for whatever is running now."""
    job = current_job.get()
    if job:
        return "job", job[:100]
    if has_request_context():
        if request.path.startswith("/api/"):
            user = _api_user()
            return "api", (_username(connection, user) if user is not None else None)
        customer = getattr(g, "portal_customer", None)
        if customer is not None:
            actor = f"customer #{_identity(customer)}"
            contact_id = getattr(g, "portal_contact_id", None)
            return "customer", actor + (f" contact #{contact_id}" if contact_id else "")
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return "staff", _username(connection, current_user)
        return "anonymous", None
    import click

    context = click.get_current_context(silent=True)
    if context is not None:
        return "cli", context.command_path[:100]
    return "system", None


# --- what changed -----------------------------------------------------------------------------

def _table(obj: Any) -> str | None:
    table = getattr(type(obj), "__tablename__", None)
    return table if isinstance(table, str) else None


def _customer_id(obj: Any, state, table: str) -> int | None:
    if table == "customer":
        # (a new object has its key already, but no identity until the flush has finished)
        return state.dict.get("id") or _identity(obj)
    customer_id = state.dict.get("customer_id")
    if customer_id is not None:
        return customer_id
    # e.g. an allocation: its invoice's or payment's customer, when that object is at hand.
    for rel in state.mapper.relationships:
        if rel.direction is MANYTOONE and rel.key in state.dict:
            target = state.dict[rel.key]
            if target is not None:
                found = getattr(target, "__dict__", {}).get("customer_id")
                if found is not None:
                    return found
    return None


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    return str(value)[:60]


def _changes(state, action: str) -> tuple[list[str], list[str]]:
    """Changed field names, and "field: old → new" for the VALUE_FIELDS among them."""
    fields, values = [], []
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in IGNORED_FIELDS:
            continue
        if action == "create":
            if state.dict.get(key) is None or key == "id":
                continue
            fields.append(key)
            if key in VALUE_FIELDS:
                values.append(f"{key}: {_value(state.dict.get(key))}")
            continue
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new and history.deleted:
            continue
        fields.append(key)
        if key in VALUE_FIELDS:
            values.append(f"{key}: {_value(old)} → {_value(new)}")
    return fields, values


def _event_rows(session: Session, connection) -> list[dict]:
    rows: list[dict] = []
    actor: tuple[str, str | None] | None = None
    groups = (("create", session.new), ("update", session.dirty), ("delete", session.deleted))
    for action, objects in groups:
        for obj in objects:
            table = _table(obj)
            if table is None or table in EXCLUDED_TABLES or table.startswith(FAB_TECHNICAL):
                continue
            state = inspect(obj)
            if action == "update" and not session.is_modified(obj, include_collections=False):
                continue
            fields, values = _changes(state, action) if action != "delete" else ([], [])
            if action == "update" and not fields:
                continue
            if actor is None:
                actor = current_actor(connection)
            pk = state.mapper.primary_key_from_instance(obj)
            rows.append({
                "at": utcnow(), "actor_type": actor[0], "actor": actor[1], "ip": client_ip(),
                "action": action, "entity": table[:40],
                "entity_id": ",".join(str(p) for p in pk)[:40] if pk else None,
                "customer_id": _customer_id(obj, state, table), "changed_fields": fields,
                "detail": "; ".join(values) or None,
            })
    return rows


def _after_flush(session: Session, _flush_context) -> None:
    if session.info.get(_DISABLED) or not has_app_context():
        return
    connection = session.connection()
    rows = _event_rows(session, connection)
    if rows:
        connection.execute(AUDIT_TABLE.insert(), rows)


def _on_execute(state) -> None:
    """Set-wise INSERT/UPDATE/DELETE through the session: counted, written at commit."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if state.session.info.get(_DISABLED):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table is None or table in BULK_EXCLUDED_TABLES or table.startswith("ab_"):
        return
    action = "bulk_insert" if state.is_insert else "bulk_update" if state.is_update \
        else "bulk_delete"
    params = state.parameters
    row_sets = len(params) if isinstance(params, list) else None
    fields: set[str] = set()
    if isinstance(params, list) and params:
        fields.update(str(k) for k in params[0])
    elif isinstance(params, dict):
        fields.update(str(k) for k in params)
    for key in (getattr(state.statement, "_values", None) or {}):
        fields.add(getattr(key, "key", None) or str(key))
    fields -= IGNORED_FIELDS | {"id", "b_id"}
    summary = state.session.info.setdefault(_BULK, {}).setdefault(
        (table, action), {"statements": 0, "rows": 0, "fields": set()})
    summary["statements"] += 1
    summary["rows"] += row_sets or 0
    summary["fields"] |= {f for f in fields if not f.startswith(("b_", "param_"))}


def _before_commit(session: Session) -> None:
    bulk = session.info.pop(_BULK, None)
    if not bulk or session.info.get(_DISABLED) or not has_app_context():
        return
    connection = session.connection()
    actor_type, actor = current_actor(connection)
    rows = []
    for (table, action), summary in sorted(bulk.items()):
        detail = {"statements": summary["statements"]}
        if summary["rows"]:
            detail["row_sets"] = summary["rows"]
        rows.append({"at": utcnow(), "actor_type": actor_type, "actor": actor,
                     "ip": client_ip(), "action": action, "entity": table[:40],
                     "entity_id": None, "customer_id": None,
                     "changed_fields": sorted(summary["fields"]),
                     "detail": json.dumps(detail)})
    connection.execute(AUDIT_TABLE.insert(), rows)


def _after_rollback(session: Session) -> None:
    session.info.pop(_BULK, None)


def install() -> None:
    """Listen on every ORM session (idempotent; called when this module is imported)."""
    for name, listener in (("after_flush", _after_flush), ("do_orm_execute", _on_execute),
                           ("before_commit", _before_commit),
                           ("after_rollback", _after_rollback)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


install()


@contextmanager
def suspended(session: Session):
    """No automatic events inside (bulk maintenance such as re-encrypting every row)."""
    previous = session.info.get(_DISABLED)
    session.info[_DISABLED] = True
    try:
        yield
    finally:
        session.info[_DISABLED] = previous


# --- events written on purpose ------------------------------------------------------------------

def record(action: str, entity: str, entity_id: Any = None, *, customer_id: int | None = None,
           fields: Iterable[str] = (), detail: str | None = None, user: Any = None,
           session: Session | None = None) -> AuditEvent:
    """Add one event to the session (the caller commits), actor and IP from the context.

    ``user``: the staff user acting, when the caller knows better than the context (a service
    called with the user; None from a job).
    """
    from app.extensions import db

    session = session or db.session
    actor_type, actor = current_actor(session.connection())
    if user is not None and actor_type not in ("job", "api"):
        actor_type = "staff"
        actor = getattr(user, "username", None) or str(user)
    event_row = AuditEvent(actor_type=actor_type, actor=(actor or "")[:100] or None,
                           ip=client_ip(), action=action, entity=entity[:40],
                           entity_id=None if entity_id is None else str(entity_id)[:40],
                           customer_id=customer_id, changed_fields=list(fields), detail=detail)
    session.add(event_row)
    return event_row


def _setting_changed(key: str, *, action: str, old: Any, new: Any) -> None:
    """A setting was stored or reset (core.signals.setting_changed): who, the key, and old →
    new, in the caller's transaction."""
    record(action, "setting", key, fields=["value"],
           detail=f"{key}: {_setting_text(old)} → {_setting_text(new)}"[:2000])


def _setting_text(value: Any) -> str:
    if value is None or value == "":
        return "∅"
    return " / ".join(str(value).splitlines())


def _record_viewed(item: Any, *, page: str) -> None:
    record_view(item, page)


setting_changed.connect(_setting_changed)
record_viewed.connect(_record_viewed)


def is_personal(item: Any) -> bool:
    return _table(item) in PERSONAL_VIEW_ENTITIES


def record_view(item: Any, page: str = "show") -> None:
    """Staff opened the page of a record with personal data. Written in a transaction of its
    own (a GET commits nothing else, and the page's objects must not be expired)."""
    from app.extensions import db

    table = _table(item)
    if table not in PERSONAL_VIEW_ENTITIES:
        return
    with db.engine.begin() as connection:
        actor_type, actor = current_actor(connection)
        connection.execute(AUDIT_TABLE.insert(), [{
            "at": utcnow(), "actor_type": actor_type, "actor": actor, "ip": client_ip(),
            "action": "view", "entity": table, "entity_id": str(_identity(item)),
            "customer_id": _customer_id(item, inspect(item), table), "changed_fields": [],
            "detail": page}])
