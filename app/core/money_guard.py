"""Money-moving state changes only through the domain services, never through a generic screen.

The services (app.payments.outgoing.adjustments, app.core.approvals / refunds / services,
app.selfservice.mandates / bank_accounts, the request rules) apply the approval limits, the cool-off
and the allocation rules. Flask-AppBuilder's stock add / edit / delete would write a model's
columns as typed, past all of them (issue 12: an already-open 5,000 € credit note, a write-off by
setting an invoice's status). So, for every back office ModelView (``StaffModelView`` calls
``guard_view``), from the table ``_protected_tables`` below:

1. its forms lose the protected columns (edit) and its permissions lose ``can_add`` (unless the
   add goes through a service: ``create_from_form``) and ``can_delete`` where the model is not
   deleted by people;
2. its ``pre_add`` / ``pre_update`` / ``pre_delete`` refuse, with a translated message and nothing
   saved, a generic add, a change to a protected column, or a deletion, whatever the form posted;
3. the generic write itself (the datamodel's add / edit / delete) runs under ``generic_write``:
   a ``before_flush`` listener refuses any protected change it would flush, e.g. one made by a
   view's own hook or by a cascade.

A screen whose form goes through a service (``create_from_form`` / ``update_from_form``, saved by
``StaffModelView._save``) is not the generic path: the service decides. A protected column may
appear in such an edit form only when the view names it in ``service_fields``.
"""
from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import has_request_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

ALL = "*"  # every column: rows written only by services and jobs


@dataclass(frozen=True)
class Protection:
    fields: frozenset[str] | str = ALL
    # May a generic screen add / delete rows? (A service-backed add is never "generic".)
    add: bool = False
    delete: bool = False
    # Why people may not delete these rows (shown when a delete is refused).
    why_kept: Any = field(default=None)


_KEPT_MONEY = _l("it is part of the accounts; what moved money is undone by its own action "
                 "(reversal, rejection, credit note), which leaves a trace.")
_KEPT_EVIDENCE = _l("it is evidence that must be kept; the retention rules remove it when its "
                    "time has come.")
_KEPT_HISTORY = _l("it is history written by the system; the retention rules remove it when "
                   "its time has come.")


def _protected_tables() -> dict[str, Protection]:
    """Table -> what generic screens may not do to its rows.

    Named by table, as foreign keys name them: core imports no domain package (the models
    are found in the mapper registry by protections())."""
    money = Protection(why_kept=_KEPT_MONEY)
    history = Protection(why_kept=_KEPT_HISTORY)
    return {
        # Status and open amount follow from payments, credit notes and approved write-offs; the
        # total comes from the ERP (a reduction is a credit note, under the limits).
        "invoice": Protection(frozenset({"status", "open_amount", "total_amount", "paid_on",
                                         "currency"}), why_kept=_KEPT_MONEY),
        "credit_note": Protection(frozenset({"status", "amount", "open_amount", "customer_id",
                                             "invoice_id", "number", "approved_by_id",
                                             "approved_at"}), why_kept=_KEPT_MONEY),
        "customer": Protection(frozenset({"balance"}), add=True, delete=True),
        # Where refunds are paid and direct debits collected: the cool-off and the mandate
        # confirmation decide, not a form.
        "bank_account": Protection(frozenset({"status", "iban", "iban_hash", "purpose",
                                              "customer_id", "active_from", "retired_at"}),
                                   why_kept=_KEPT_EVIDENCE),
        "mandate": Protection(frozenset({"status", "customer_id", "bank_account_id", "reference",
                                         "signed_on", "signed_at", "signature_name",
                                         "signature_ip", "signature_consent",
                                         "signature_user_agent", "mandate_text",
                                         "last_collection_on", "revoked_at"}),
                              why_kept=_KEPT_EVIDENCE),
        "payment": money, "allocation": money, "installment_payment": money, "write_off": money,
        "refund": money, "collection_batch": money, "collection_item": money,
        "credit_transfer_batch": money, "bank_statement": money, "statement_line": money,
        "installment": money,
        # Customer requests are answered, never deleted by people; data-subject requests
        # (GDPR access / erasure) are removed by the retention rules only.
        "customer_request": Protection(
            frozenset({"status", "kind", "customer_id", "payload", "decided_at",
                       "decided_by_id", "decision_note"}),
            why_kept=_l("a customer request is answered or closed, never deleted; the retention "
                        "rules remove it when its time has come.")),
        # A hold is released (its release date), not deleted: the record says it existed.
        "legal_hold": Protection(frozenset(), add=True,
                                 why_kept=_l("a legal hold is released (give its release date), "
                                             "never deleted, so that it stays on record.")),
        "audit_event": history, "dunning_run": history, "dunning_action": history,
        "dunning_action_invoice": history, "message": history, "retention_run": history,
        "retention_tombstone": history,
    }


_REGISTRY: dict[type, Protection] | None = None


def protections() -> dict[type, Protection]:
    """Model class -> its Protection, built on first use from the mapped classes (every model
    is imported at start-up by app/models.py; a protected table not mapped is an error, never a
    silently unprotected one)."""
    global _REGISTRY
    if _REGISTRY is None:
        from flask_appbuilder import Model

        tables = _protected_tables()
        found = {mapper.class_: tables[mapper.local_table.name]
                 for mapper in Model.registry.mappers
                 if getattr(mapper.local_table, "name", None) in tables}
        missing = set(tables) - {cls.__table__.name for cls in found}
        if missing:
            raise LookupError(f"protected tables without a model: {sorted(missing)}")
        _REGISTRY = found
    return _REGISTRY


def protection_for(model: type) -> Protection | None:
    for cls in getattr(model, "__mro__", (model,)):
        found = protections().get(cls)
        if found is not None:
            return found
    return None


def protected_attributes(model: type) -> set[str]:
    """The attribute names a generic screen may not change: the protected columns and the
    relationships whose foreign keys are protected (a form sets ``customer``, not
    ``customer_id``)."""
    protection = protection_for(model)
    if protection is None:
        return set()
    mapper = inspect(model)
    if protection.fields == ALL:
        return {attr.key for attr in mapper.attrs}
    names = set(protection.fields)
    attributes = {attr.key for attr in mapper.column_attrs
                  if attr.key in names or any(c.key in names for c in attr.columns)}
    for rel in mapper.relationships:
        if any(column.key in names for column in rel.local_columns):
            attributes.add(rel.key)
    return attributes


def changed_protected(obj: Any) -> list[str]:
    """The protected attributes of ``obj`` with an unsaved change."""
    state = inspect(obj)
    if state.transient or state.pending:
        return []
    found = []
    for key in sorted(protected_attributes(type(obj))):
        if key in state.attrs and state.attrs[key].history.has_changes():
            found.append(key)
    return found


class ProtectedChange(ValueError):
    """A generic screen tried to change money-moving state; the message is translated."""


def _label(view: Any, key: str) -> str:
    labels = getattr(view, "label_columns", None) or {}
    return str(labels.get(key, key))


def _edit_message(view: Any, keys: list[str]) -> str:
    return _("%(fields)s cannot be changed on this screen: it moves money or decides where "
             "money goes, so it changes only through its own action, where the approval limits "
             "and checks apply.", fields=", ".join(_label(view, k) for k in keys))


def _add_message() -> str:
    return _("These records are not created on this screen: they move money, so they are created "
             "only through their own action, where the approval limits and checks apply.")


def _delete_message(protection: Protection) -> str:
    return _("This record cannot be deleted: %(why)s", why=str(protection.why_kept or _KEPT_MONEY))


def _refuse(message: str) -> None:
    from app.extensions import db

    db.session.rollback()
    raise ProtectedChange(message)


def check_session(view: Any = None, session: Session | None = None) -> None:
    """Refuse (ProtectedChange) when the session holds a protected change a generic screen may
    not make: a new protected row, a changed protected column, a deleted protected row."""
    from app.extensions import db

    session = session or db.session
    for obj in list(session.new):
        protection = protection_for(type(obj))
        if protection is not None and not protection.add:
            raise ProtectedChange(_add_message())
    for obj in list(session.dirty):
        keys = changed_protected(obj)
        if keys:
            raise ProtectedChange(_edit_message(view, keys))
    for obj in list(session.deleted):
        protection = protection_for(type(obj))
        if protection is not None and not protection.delete:
            raise ProtectedChange(_delete_message(protection))


# --- the SQLAlchemy-level second line ------------------------------------------------------

_GENERIC: contextvars.ContextVar[Any] = contextvars.ContextVar("money_guard_generic", default=None)


@contextmanager
def generic_write(view: Any):
    """While a generic screen writes: every flush is checked by ``_before_flush``."""
    token = _GENERIC.set(view)
    try:
        yield
    finally:
        _GENERIC.reset(token)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context, _instances) -> None:
    view = _GENERIC.get()
    if view is not None:
        check_session(view, session)


# --- the views --------------------------------------------------------------------------------

def _without(columns, hidden: set[str]) -> list[str] | None:
    if columns is None:
        return None
    return [c for c in columns if c not in hidden]


def guard_view(view: Any) -> None:
    """Apply the protection of ``view``'s model to the view instance (before FAB's __init__)."""
    model = view.datamodel.obj
    protection = protection_for(model)
    if protection is None:
        return
    hidden = protected_attributes(model)
    permissions = list(view.base_permissions or [])
    if not protection.add and getattr(view, "create_from_form", None) is None:
        permissions = [p for p in permissions if p != "can_add"]
    if not protection.delete:
        permissions = [p for p in permissions if p != "can_delete"]
    if "can_edit" in permissions:
        allowed = set(getattr(view, "service_fields", ()) or ()) \
            if getattr(view, "update_from_form", None) is not None else set()
        edit_columns = _without(view.edit_columns, hidden - allowed)
        if view.edit_columns and edit_columns != list(view.edit_columns):
            log.warning("%s: protected columns taken out of the edit form: %s",
                        type(view).__name__, sorted(set(view.edit_columns) - set(edit_columns)))
        if not edit_columns:  # FAB would fall back to every column
            permissions = [p for p in permissions if p != "can_edit"]
        else:
            view.edit_columns = edit_columns
    view.base_permissions = permissions
    _wrap_hooks(view, protection)
    _wrap_datamodel(view)


def _wrap_hooks(view: Any, protection: Protection) -> None:
    original_add, original_update, original_delete = view.pre_add, view.pre_update, view.pre_delete

    def pre_add(item):
        if not protection.add:
            _refuse(_add_message())
        original_add(item)

    def pre_update(item):
        original_update(item)
        keys = changed_protected(item)
        if keys:
            _refuse(_edit_message(view, keys))
        try:
            check_session(view)
        except ProtectedChange as refused:
            _refuse(str(refused))

    def pre_delete(item):
        if not protection.delete:
            _refuse(_delete_message(protection))
        original_delete(item)

    view.pre_add, view.pre_update, view.pre_delete = pre_add, pre_update, pre_delete


def _wrap_datamodel(view: Any) -> None:
    datamodel = view.datamodel
    if getattr(datamodel, "_money_guarded", False):
        return
    for name in ("add", "edit", "delete", "delete_all"):
        setattr(datamodel, name, _generic(getattr(datamodel, name), view))
    datamodel._money_guarded = True


def _generic(method, view):
    @wraps(method)
    def guarded(*args, **kwargs):
        if not has_request_context():
            return method(*args, **kwargs)
        try:
            with generic_write(view):
                return method(*args, **kwargs)
        except ProtectedChange:
            view.datamodel.session.rollback()
            raise

    return guarded
