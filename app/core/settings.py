"""Product settings: every rule the code reads, declared once, with the screen that edits it.

Code never reads a `Setting` row directly: it calls ``get_setting("company.iban")``. A key that
has no row yet gives its default, so a fresh install works and a new setting needs no migration.
Staff change values on Settings → Business rules (app/core/settings_views.py), one form per
group; ``set_setting`` checks the value against the key's type first.

Adding a setting is one call, here or in the domain that owns it:

    register_setting("dunning.minimum_amount", Decimal("5.00"), "money",
                     _l("Smallest amount reminded"), "dunning",
                     help=_l("..."), minimum=0, maximum=1000)

The declaration is the screen: its type gives the field (money in the reader's decimal
separator, days, yes/no, a choice, an IBAN checked with its check digits, ...), its category
the group it is shown in (CATEGORY_GROUPS, or ``group=``), its label and help the texts, and
the group (or ``roles=``) who may change it. tests/core/test_settings_registry.py fails on a
key that code reads without declaring it, so a setting cannot exist without a screen.

A key declared in a domain module exists once that module is imported; declare it in a module
the app imports at start (models, services), or here. Values are stored as JSON (decimals as
strings, so no cents are lost to floats).

Why one module of about 550 lines: the registry and the company and core settings it declares;
each domain declares its own rules in its own settings module.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from app.core import validation as v
from app.core.models import Setting
from app.core.roles import ADMIN, COMPLIANCE_OFFICER, CREDIT_MANAGER
from app.core.signals import setting_changed
from app.extensions import db

log = logging.getLogger(__name__)

# Whole numbers (int: a count; days, hours, minutes: a duration in that unit).
INT_TYPES = ("int", "days", "hours", "minutes")
# Decimals (decimal: a plain number such as a ratio; money: euros, two decimals; percent:
# percentage points, 8 means 8 %).
DECIMAL_TYPES = ("decimal", "money", "percent")
TEXT_TYPES = ("str", "text", "email", "url", "iban", "bic", "creditor_id", "time_range",
              "choice")
TYPES = INT_TYPES + DECIMAL_TYPES + ("bool",) + TEXT_TYPES
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Group:
    key: str
    label: Any
    help: Any
    roles: tuple[str, ...]  # who may change its settings (the Admin always may)


# The forms of Settings → Business rules, in menu order, grouped by what a person looks for.
GROUPS: dict[str, Group] = {g.key: g for g in (
    Group("company", _l("Company and bank details"),
          _l("Who sends the invoices and reminders, the bank account customers pay into, "
             "bank statements and direct debit."), (ADMIN, CREDIT_MANAGER)),
    Group("portal", _l("Portal and self-service rules"),
          _l("What customers may do on their own in the portal: deferrals, payment plans, "
             "disputes, confirmation codes and links."), (ADMIN, CREDIT_MANAGER)),
    Group("requests", _l("Requests and SLA"),
          _l("How fast customer requests are answered, and when they count as due soon."),
          (ADMIN, CREDIT_MANAGER)),
    Group("dunning", _l("Reminders (dunning)"),
          _l("When and how overdue invoices are reminded, interest and compensation, and the "
             "risk signals."), (ADMIN, CREDIT_MANAGER)),
    Group("approvals", _l("Approval limits"),
          _l("The \"place of yes\": the largest refund, credit note or write-off each role may "
             "approve. Only an administrator changes them."), (ADMIN,)),
    Group("messages", _l("Messages and channels"),
          _l("The web address used in links, SMS quiet hours, sending retries and the "
             "background jobs' alerts. The sender address of e-mails is set with the e-mail "
             "plugin (Settings → Plugins)."), (ADMIN, CREDIT_MANAGER)),
    Group("retention", _l("Retention defaults"),
          _l("How the GDPR retention purge runs. The retention periods themselves are on "
             "Compliance → Retention rules."), (ADMIN, COMPLIANCE_OFFICER)),
)}
# The category a domain declares its settings under → the group whose form shows them.
# Within a form, settings follow this order of categories (then their declaration order).
CATEGORY_GROUPS = {
    "company": "company", "payments": "company",
    "self_service": "portal", "portal": "portal", "customers": "portal",
    "requests": "requests",
    "dunning": "dunning", "risk": "dunning", "insights": "dunning",
    "approvals": "approvals",
    "notifications": "messages", "scheduler": "messages",
    "retention": "retention",
}
# Categories only the Admin changes, whatever their group (how the job machinery behaves).
ADMIN_ONLY_CATEGORIES = frozenset({"scheduler"})


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    default: Any
    type: str = "str"
    label: Any = ""  # a lazy_gettext string: shown in the admin in the staff member's language
    category: str = "general"
    required: bool = False  # an empty value is refused (e.g. the company name)
    help: Any = ""  # a lazy_gettext string: one or two sentences under the field
    group: str = "messages"
    minimum: Any = None  # numbers: smallest value accepted
    maximum: Any = None  # numbers: largest value accepted
    choices: tuple[tuple[str, Any], ...] = ()  # "choice": (stored value, translated label)
    roles: tuple[str, ...] = ()  # who may change it (from its group unless declared)

    def may_change(self, role_names: Iterable[str]) -> bool:
        names = set(role_names)
        return ADMIN in names or bool(names & set(self.roles))


REGISTRY: dict[str, SettingDefinition] = {}


def register_setting(key: str, default: Any, type: str = "str", label: Any = "",
                     category: str = "general", *, required: bool = False, help: Any = "",
                     group: str | None = None, minimum: Any = None, maximum: Any = None,
                     choices: Iterable[tuple[str, Any]] = (),
                     roles: Iterable[str] | None = None) -> SettingDefinition:
    """Declare a setting. Declaring the same key twice is a programming error."""
    if type not in TYPES:
        raise ValueError(f"unknown setting type {type!r} for {key}")
    if key in REGISTRY:
        raise ValueError(f"setting {key} is declared twice")
    group = group or CATEGORY_GROUPS.get(category) or "messages"
    if group not in GROUPS:
        raise ValueError(f"unknown settings group {group!r} for {key}")
    if type == "choice" and not choices:
        raise ValueError(f"setting {key} is a choice without choices")
    if minimum is None and type in INT_TYPES + DECIMAL_TYPES:
        minimum = 0  # no rule of the product is negative
    if maximum is None and type == "percent":
        maximum = 100
    if roles is None:
        roles = (ADMIN,) if category in ADMIN_ONLY_CATEGORIES else GROUPS[group].roles
    definition = SettingDefinition(key, default, type, label or key, category, required, help,
                                   group, minimum, maximum, tuple(choices), tuple(roles))
    REGISTRY[key] = definition
    return definition


# The modules that declare settings. The screens import them all (load_declarations), so a
# setting declared in a module the app imports only lazily (a job) still has its form;
# tests/core/test_settings_registry.py fails when a module declaring one is missing here.
DECLARING_MODULES = (
    "app.core.job_runs", "app.customers.bank_accounts", "app.customers.notes",
    "app.selfservice.preferences", "app.selfservice.profile", "app.selfservice.risk",
    "app.customers.welcome", "app.dunning.rules", "app.inbound.settings", "app.einvoicing.settings", "app.insights.aging",
    "app.notifications.settings", "app.paylinks.settings", "app.core.approvals", "app.payments.outgoing.direct_debit",
    "app.payments.outgoing.refunds", "app.payments.incoming.settings", "app.requests.self_service",
    "app.requests.services", "app.retention.rules",
)


def load_declarations() -> None:
    import importlib

    for module in DECLARING_MODULES:
        importlib.import_module(module)


def definition(key: str) -> SettingDefinition:
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown setting {key!r}: declare it with register_setting()") from None


def definitions(category: str | None = None, *, group: str | None = None
                ) -> list[SettingDefinition]:
    """Known settings, optionally those of one category or group; a group's settings in the
    order of CATEGORY_GROUPS, then in declaration order."""
    found = [d for d in REGISTRY.values()
             if (category is None or d.category == category) and (group is None or d.group == group)]
    if group is not None:
        order = list(CATEGORY_GROUPS)
        found.sort(key=lambda d: order.index(d.category) if d.category in order else len(order))
    return found


# --- reading ----------------------------------------------------------------------------------

# Settings are read once per transaction: a job handling thousands of rows in one transaction
# (a mailbox poll, a dunning run) asks the same few keys for every row. The stored values read
# are kept in the session (``session.info``) until the transaction or a savepoint ends, and
# forgotten as soon as a Setting row is added, changed or deleted in that session (set_setting,
# reset_setting, an attribute set, a flush, a bulk or text statement through the session). So a
# value changed in the same transaction is seen at once, and another session's change is seen
# from the next transaction on (as before under READ COMMITTED between two statements of one
# transaction, which no rule relied on).
_CACHE = "core.settings.read"
_ABSENT = object()  # no row: the default applies


def _read_cache(session: Any) -> dict[str, Any]:
    return session.info.setdefault(_CACHE, {})


def forget_read_settings(session: Any = None) -> None:
    """Drop the settings read in this session (the next read asks the database)."""
    (session if session is not None else db.session()).info.pop(_CACHE, None)


def _stored_values(keys: list[str]) -> dict[str, Any]:
    """{key: stored value or _ABSENT} for ``keys``; what is not cached yet in one query."""
    session = db.session()
    if session.deleted and any(isinstance(o, Setting) for o in session.deleted):
        forget_read_settings(session)  # a row deleted, not flushed yet (no event tells)
    cache = _read_cache(session)
    missing = [key for key in dict.fromkeys(keys) if key not in cache]
    if missing:
        rows = session.execute(select(Setting.key, Setting.value)
                               .where(Setting.key.in_(missing))).all()
        # A flush during that query (autoflush) may have emptied the cache: fill the current one.
        cache = _read_cache(session)
        found = {key: value for key, value in rows}
        for key in missing:
            cache[key] = found.get(key, _ABSENT)
    return {key: cache[key] for key in keys}


@event.listens_for(Session, "after_transaction_end")
def _forget_at_transaction_end(session: Session, _transaction: Any) -> None:
    # Commit, rollback, close, and a savepoint's end (what it wrote may be rolled back).
    session.info.pop(_CACHE, None)


@event.listens_for(Session, "before_flush")
def _forget_on_flush(session: Session, _context: Any, _instances: Any) -> None:
    # Rows added or changed are caught by the events below; a deletion has no event before the
    # flush. Not ``session.dirty``: it checks every object in the session, on every flush of
    # every job, for a table that changes a few times a year.
    if session.deleted and any(isinstance(o, Setting) for o in session.deleted):
        session.info.pop(_CACHE, None)


@event.listens_for(Session, "transient_to_pending")
def _forget_on_add(session: Session, instance: Any) -> None:
    if isinstance(instance, Setting):
        session.info.pop(_CACHE, None)


@event.listens_for(Session, "do_orm_execute")
def _forget_on_write(state: Any) -> None:
    # An UPDATE/DELETE/INSERT or text statement through the session may write settings.
    if not state.is_select:
        state.session.info.pop(_CACHE, None)


def _forget_on_set(target: Setting, value: Any, _old: Any, _initiator: Any) -> Any:
    session = object_session(target)
    if session is not None:
        session.info.pop(_CACHE, None)
    return value


for _attribute in (Setting.key, Setting.value):
    event.listen(_attribute, "set", _forget_on_set, retval=True)


def get_setting(key: str) -> Any:
    """The stored value of a setting, or its default when nothing (valid) is stored."""
    found = definition(key)
    value = _stored_values([key])[key]
    return _from_stored(found, None if value is _ABSENT else value)


def get_settings(keys: Iterable[str]) -> dict[str, Any]:
    """Several settings in one query (e.g. everything printed in an invoice header)."""
    wanted = {key: definition(key) for key in keys}
    stored = _stored_values(list(wanted))
    return {key: _from_stored(found, None if stored[key] is _ABSENT else stored[key])
            for key, found in wanted.items()}


def stored_keys(keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` have a stored row (the others follow their default)."""
    return {key for key, value in _stored_values(list(keys)).items() if value is not _ABSENT}


def is_customised(key: str) -> bool:
    """Whether staff stored a value (False: the default applies, e.g. the demo company)."""
    definition(key)
    return _stored_values([key])[key] is not _ABSENT


def _from_stored(found: SettingDefinition, value: Any) -> Any:
    if value is None:
        return found.default
    try:
        return _parse(found, value)
    except v.ValidationError:
        # A row edited by hand into something invalid must not break invoices or jobs. A number
        # falls back to its default; a text (an IBAN!) is returned as stored, never swapped for
        # the demo default, and the code using it checks it (no QR code for a wrong IBAN).
        log.warning("setting %s holds an invalid value", found.key)
        if found.type in INT_TYPES + DECIMAL_TYPES + ("bool",):
            return found.default
        return str(value)


# --- writing ----------------------------------------------------------------------------------

def clean_setting_value(key: str, raw: Any) -> Any:
    """The value as the setting's type, or ValidationError({key: [message]})."""
    return _parse(definition(key), raw)


def set_setting(key: str, raw: Any) -> Any:
    """Check and store a value (the caller commits). Returns the cleaned value."""
    found = definition(key)
    value = _parse(found, raw)
    row = db.session.scalar(select(Setting).where(Setting.key == key))
    if row is None:
        row = Setting(key=key, category=found.category)
        db.session.add(row)
    row.value = _to_stored(found, value)
    forget_read_settings()
    return value


def reset_setting(key: str) -> None:
    """Go back to the default (the caller commits)."""
    definition(key)
    row = db.session.scalar(select(Setting).where(Setting.key == key))
    if row is not None:
        db.session.delete(row)
    forget_read_settings()


def _to_stored(found: SettingDefinition, value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# --- types ------------------------------------------------------------------------------------

def _parse(found: SettingDefinition, raw: Any) -> Any:
    key = found.key
    if found.type == "bool":
        errors = v.Errors()
        value = raw if isinstance(raw, bool) else v.boolean({key: raw}, key, errors)
        errors.raise_if_any()
        return found.default if value is None else value
    if found.type in INT_TYPES + DECIMAL_TYPES:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if found.required:
                raise v.ValidationError({key: _("This field is required.")})
            return found.default
        value = _integer(key, raw) if found.type in INT_TYPES else _decimal(found, raw)
        _check_range(found, value)
        return value
    text = "" if raw is None else str(raw)
    if found.type == "text":
        # Several lines (an address): keep the line breaks, drop blank lines and stray spaces.
        text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    else:
        text = " ".join(text.split())
    if not text:
        if found.required:
            raise v.ValidationError({key: _("This field is required.")})
        return ""
    if len(text) > 2000:
        raise v.ValidationError({key: _("At most %(n)s characters.", n=2000)})
    if found.type == "choice":
        allowed = [value for value, _label in found.choices]
        if text not in allowed:
            raise v.ValidationError({key: _("Choose one of the proposed values.")})
        return text
    return _CHECKS.get(found.type, lambda key, text: text)(key, text)


def _integer(key: str, raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if not re.fullmatch(r"[+-]?\d{1,9}", text):
        raise v.ValidationError({key: _("Not a whole number: %(value)s.", value=raw)})
    return int(text)


def _decimal(found: SettingDefinition, raw: Any) -> Decimal:
    """'12,50', '12.50', '1 234,50', '1.234,50', '8,5 %' -> Decimal (two decimals at most)."""
    key = found.key
    if isinstance(raw, bool):
        raise v.ValidationError({key: _("Not a number: %(value)s.", value=raw)})
    text = raw
    if isinstance(raw, str):
        text = raw.replace("\u202f", "").replace("\u2009", "").replace("%", "").strip()
    try:
        value = v.parse_amount(text)
    except (ValueError, InvalidOperation):
        if found.type == "money":
            message = _("Not an amount: %(value)s. Use digits with at most two decimals, "
                        "e.g. 125,50.", value=raw)
        else:
            message = _("Not a number: %(value)s. Use digits with at most two decimals, "
                        "e.g. 1,5.", value=raw)
        raise v.ValidationError({key: message}) from None
    if abs(value) >= Decimal(10000000000):
        raise v.ValidationError({key: _("The number is too large.")})
    return value


def _check_range(found: SettingDefinition, value: int | Decimal) -> None:
    low, high = found.minimum, found.maximum
    if low is not None and value < low or high is not None and value > high:
        if high is None:
            message = _("Must be at least %(low)s.", low=format_number(found, low))
        elif low is None:
            message = _("Must be at most %(high)s.", high=format_number(found, high))
        else:
            message = _("Must be between %(low)s and %(high)s.", low=format_number(found, low),
                        high=format_number(found, high))
        raise v.ValidationError({found.key: message})


def _email(key: str, text: str) -> str:
    if not _EMAIL.match(text):
        raise v.ValidationError({key: _("Not a valid e-mail address.")})
    return text


def _url(key: str, text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        raise v.ValidationError({key: _("Not a web address: %(value)s. Write it with http:// "
                                        "or https://, e.g. https://pay.example.com.",
                                        value=text)})
    return text


def _iban(key: str, text: str) -> str:
    from app.core.bank_identifiers import clean_iban

    return clean_iban(text, field=key)


def _bic(key: str, text: str) -> str:
    from app.core.bank_identifiers import clean_bic

    return clean_bic(text, field=key)


def _creditor_id(key: str, text: str) -> str:
    """The SEPA creditor identifier (BE81ZZZ0123456749), its check digits verified."""
    from stdnum.eu import at_02
    from stdnum.exceptions import ValidationError as StdnumError

    try:
        return at_02.validate(text)
    except StdnumError:
        raise v.ValidationError({key: _("Not a valid SEPA creditor identifier: %(value)s.",
                                        value=text)}) from None


_TIME = re.compile(r"^(\d{1,2})(?:[:h.u](\d{2})?)?h?$")
_RANGE_SEPARATORS = re.compile(r"\s*(?:-|–|—|/| to | à | a | tot )\s*")


def _time_range(key: str, text: str) -> str:
    """'21:00-08:00', '21h-8h', '21.00 – 8.00' -> '21:00-08:00' (may run past midnight)."""
    parts = _RANGE_SEPARATORS.split(text.strip().lower())
    times = []
    for part in parts:
        match = _TIME.match(part.replace(" ", ""))
        if not match or int(match.group(1)) > 23 or int(match.group(2) or 0) > 59:
            times = []
            break
        times.append(f"{int(match.group(1)):02d}:{int(match.group(2) or 0):02d}")
    if len(parts) != 2 or len(times) != 2:
        raise v.ValidationError({key: _("Not a time range: %(value)s. Write it as from-to, "
                                        "e.g. 21:00-08:00.", value=text)})
    return "-".join(times)


_CHECKS: dict[str, Callable[[str, str], str]] = {
    "email": _email, "url": _url, "iban": _iban, "bic": _bic, "creditor_id": _creditor_id,
    "time_range": _time_range}


# --- showing ----------------------------------------------------------------------------------

def format_number(found: SettingDefinition, value: Any) -> str:
    """A number the way the reader writes it in a form field: '1000,00' in French and Dutch,
    '1000.00' in English (no thousands separator, so the text can be typed back as it is)."""
    from babel import numbers

    from app.core.i18n import LC_DEFAULT, current_locale

    if value is None or value == "":
        return ""
    locale = current_locale() or LC_DEFAULT
    if found.type in INT_TYPES:
        return str(int(value))
    pattern = "0.00" if found.type == "money" else "0.##"
    return numbers.format_decimal(Decimal(str(value)), format=pattern, locale=locale)


def display_value(found: SettingDefinition, value: Any) -> str:
    """A value as text for its form field (or for the read-only view)."""
    if found.type in INT_TYPES + DECIMAL_TYPES:
        return format_number(found, value)
    if found.type == "bool":
        return "yes" if value else "no"
    if found.type == "iban" and value:
        from app.core.bank_identifiers import format_iban

        return format_iban(str(value))
    return "" if value is None else str(value)


def type_help(found: SettingDefinition) -> str:
    """What the field accepts, in the reader's language (shown under the setting's own help)."""
    texts = {
        "money": _("An amount in euros, e.g. 250,50 or 250.50."),
        "days": _("A number of days."), "hours": _("A number of hours."),
        "minutes": _("A number of minutes."),
        "percent": _("Percentage points: 8 means 8 %."),
        "time_range": _("From-to in Brussels time, e.g. 21:00-08:00."),
        "iban": _("Checked with its check digits."),
        "creditor_id": _("Checked with its check digits, e.g. BE81ZZZ0123456749."),
        "url": _("A web address starting with https://."),
    }
    return texts.get(found.type, "")


# --- changing a group's settings (the screens) -----------------------------------------------

def change_settings(values: dict[str, Any], role_names: Iterable[str]) -> list[tuple[str, Any, Any]]:
    """Check every value first, then store those that changed (the caller commits).

    ``values`` maps keys to what was typed; a key the person may not change is refused. Any
    error raises ValidationError({key: [message]}) for all fields at once, and nothing is
    stored. Returns [(key, old, new)] for the values that changed, each also written to the
    audit trail with who changed it. Decisions already taken keep the rule they were taken
    under: nothing here touches a request, plan or refund.
    """
    role_names = set(role_names)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, raw in values.items():
        found = definition(key)
        if not found.may_change(role_names):
            errors[key] = [_("You may not change this setting.")]
            continue
        try:
            cleaned[key] = _parse(found, raw)
        except v.ValidationError as exc:
            errors[key] = exc.errors.get(key) or [str(exc)]
    if errors:
        raise v.ValidationError(errors)
    current = get_settings(cleaned)
    stored = stored_keys(cleaned)
    changes = []
    for key, new in cleaned.items():
        old = current[key]
        if new == old and (key in stored or new == definition(key).default):
            continue
        set_setting(key, new)
        _audit(key, "setting_change", old, new)
        changes.append((key, old, new))
    return changes


def change_stored_row(row: Setting, raw: Any, role_names: Iterable[str]) -> None:
    """The stored rows screen (one row, its value as JSON): a declared setting goes through
    ``change_settings`` like the forms (who may change it, its type, the audit trail); a key no
    code declares (left by an older version) is stored as given. ValidationError({row.key:
    [...]}) when refused: nothing changes. The caller commits."""
    if row.key not in REGISTRY:
        row.value = raw
        return
    db.session.expire(row, ["value"])  # change_settings compares with what is stored
    change_settings({row.key: raw}, role_names)


def reset_to_default(key: str, role_names: Iterable[str]) -> tuple[Any, Any] | None:
    """Delete the stored value so the default applies again (the caller commits); audited.
    Returns (old, default), or None when the default already applied."""
    found = definition(key)
    if not found.may_change(role_names):
        raise v.ValidationError({key: _("You may not change this setting.")})
    if not is_customised(key):
        return None
    old = get_setting(key)
    reset_setting(key)
    _audit(key, "setting_reset", old, found.default)
    return old, found.default


def _audit(key: str, action: str, old: Any, new: Any) -> None:
    """One audit event per change, written by the audit trail (app.core.audit listens to
    core.signals.setting_changed: the trail imports the job bookkeeping, which imports the
    settings, so the settings cannot import the trail back)."""
    setting_changed.send(key, action=action, old=old, new=new)


# --- the company that sends the invoices (the creditor) --------------------------------------
# Printed on invoices and reminders, and put in the payment QR code. The defaults are a demo
# company so that a fresh install shows complete documents; the IBAN has valid check digits.
register_setting("company.name", "CreditDesk Demo SA", "str", _l("Company name"), "company",
                 required=True,
                 help=_l("Printed on invoices and reminders, and the sender name of e-mails."))
register_setting("company.address", "Avenue Louise 54\n1050 Bruxelles\nBelgique", "text",
                 _l("Company address"), "company",
                 help=_l("One line per address line, as printed on letters and mandates."))
register_setting("company.enterprise_number", "0123.456.749", "str", _l("Enterprise number"),
                 "company", help=_l("Printed in the footer of invoices and reminders."))
register_setting("company.vat_number", "BE0123456749", "str", _l("VAT number"), "company",
                 help=_l("Printed in the footer of invoices and reminders."))
register_setting("company.iban", "BE04068246137931", "iban", _l("IBAN for payments"),
                 "company", required=True,
                 help=_l("The account customers pay into: printed on invoices and in the "
                         "payment QR code."))
register_setting("company.bic", "GKCCBEBB", "bic", _l("BIC"), "company",
                 help=_l("The bank code of that account (8 or 11 characters)."))
register_setting("company.email", "billing@creditdesk-demo.example", "email", _l("E-mail"),
                 "company", help=_l("Shown to customers as the address to write to; the "
                                    "finance team's alerts are sent there too."))
register_setting("company.phone", "+32 2 123 45 67", "str", _l("Phone"), "company",
                 help=_l("Shown to customers on documents and in the portal."))
register_setting("company.website", "https://www.creditdesk-demo.example", "url",
                 _l("Website"), "company", help=_l("Printed on documents."))
# SEPA creditor identifier: on direct-debit mandates and in pain.008 collection files.
register_setting("company.creditor_id", "BE81ZZZ0123456749", "creditor_id",
                 _l("SEPA creditor identifier"), "company",
                 help=_l("Given by your bank for SEPA direct debit: printed on mandates and "
                         "put in collection files."))

COMPANY_KEYS = tuple(d.key for d in definitions("company"))


def company_details() -> dict[str, Any]:
    """The creditor's data without the "company." prefix: {"name": ..., "iban": ...}."""
    return {key.split(".", 1)[1]: value for key, value in get_settings(COMPANY_KEYS).items()}
