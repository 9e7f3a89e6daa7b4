"""Customer requests ("cases"): opening one, its SLA, the staff decision and the survey.

Every self-service action that needs a record (deferral, plan, dispute, change of details, refund
account, mandate, erasure, question) opens a ``CustomerRequest`` here, whether it came from the
portal, from staff on the customer's behalf or from the API. What happens when staff approve or
reject a request of a given kind is registered by the domain that owns that kind:

    register_decision_handler("payment_plan", plans.on_decision)

``decide_request`` then calls the handler in the same transaction, records the decision (it is on
the customer's timeline through the request row) and tells the customer in their language.
Auto-approved requests (within the self-service rules) are recorded with ``auto_approve``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from app.core.locking import claim
from app.core.models import utcnow
from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice
from app.requests.models import REQUEST_KINDS, CustomerRequest, RequestComment
from app.requests.signals import request_opened

# SLA in hours per request kind: rows staff edit in the admin (Settings, category "requests").
# Access and erasure requests have the GDPR's one month (720 h).
_DEFAULT_SLA_HOURS = {"deferral": 24, "payment_plan": 48, "dispute": 120, "data_change": 48,
                      "bank_account": 48, "mandate": 48, "preferences": 24, "access": 720,
                      "erasure": 720, "question": 48, "refund": 48}
for _kind, _hours in _DEFAULT_SLA_HOURS.items():
    register_setting(f"requests.sla_hours.{_kind}", _hours, "hours",
                     _l("Answer within (hours): %(kind)s", kind=REQUEST_KINDS[_kind]),
                     "requests")
register_setting("requests.sla_due_soon_hours", 8, "hours",
                 _l("A request is \"due soon\" this many hours before its SLA"), "requests")
register_setting("requests.satisfaction_survey", True, "bool",
                 _l("Ask customers to rate an answered request (0-10)"), "requests")

OPEN_STATUSES = ("received", "in_review")
DECIDED_STATUSES = ("approved", "rejected")
FINAL_STATUSES = ("approved", "rejected", "closed", "cancelled", "withdrawn")

# kind -> handler(request, approved: bool, user) called before the decision is recorded. A
# handler raises ValidationError to refuse the decision (nothing is changed then). A handler
# that has already told the customer (e.g. the deferral's own message with the new date and
# the pay link) returns True: one decision sends the customer one message.
DecisionHandler = Callable[[CustomerRequest, bool, Any], bool | None]
_DECISION_HANDLERS: dict[str, DecisionHandler] = {}
# kind -> handler(request) called when the customer withdraws a pending request.
_WITHDRAW_HANDLERS: dict[str, Callable[[CustomerRequest], None]] = {}


def register_decision_handler(kind: str, handler: DecisionHandler) -> None:
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    _DECISION_HANDLERS[kind] = handler


def register_withdraw_handler(kind: str, handler: Callable[[CustomerRequest], None]) -> None:
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    _WITHDRAW_HANDLERS[kind] = handler


def sla_hours(kind: str) -> int:
    return int(get_setting(f"requests.sla_hours.{kind}"))


def open_request(customer: Customer, kind: str, *, channel: str = "portal",
                 subject: str | None = None, message: str | None = None,
                 payload: dict | None = None, invoices: Iterable[Invoice] = (),
                 referral_reason: str | None = None, notify: bool = True,
                 referral_codes: list[dict] | None = None, subject_code: dict | None = None,
                 now: datetime | None = None, assignee: Any = None) -> CustomerRequest:
    """Add a received request to the session (the caller commits) and acknowledge it.

    ``referral_reason`` is the self-service rule that sent it to staff, in words the customer
    reads (already translated into their language by the caller): the fallback text, since
    ``referral_codes`` and ``subject_code`` (app/requests/reasons.py) are rendered in the
    reader's language when shown. ``assignee``: the staff member who will handle it (a request
    taken by staff on the customer's behalf)."""
    req = _new_request(customer, kind, channel=channel, subject=subject, message=message,
                       payload=payload, invoices=invoices, referral_reason=referral_reason,
                       referral_codes=referral_codes, subject_code=subject_code, now=now,
                       assignee=assignee)
    db.session.add(req)
    db.session.flush()
    _announce(req, notify)
    return req


def open_requests(opened: list[dict[str, Any]]) -> list[CustomerRequest]:
    """``open_request`` for many requests at once (e.g. the questions of a mailbox poll): each
    item holds open_request's arguments (``customer``, ``kind``, ...). The same outcome, with
    the requests written by one flush and their acknowledgments prepared together."""
    if not opened:
        return []
    made = []
    for item in opened:
        fields = dict(item)
        notify = fields.pop("notify", True)
        made.append((_new_request(fields.pop("customer"), fields.pop("kind"), **fields),
                     notify))
    db.session.add_all([req for req, _notify in made])
    db.session.flush()
    acknowledged = [req for req, notify in made if notify]
    if acknowledged:
        from app.notifications.outbox import prepare_batch

        prepare_batch([req.customer for req in acknowledged],
                      [received_key(req) for req in acknowledged])
    for req, notify in made:
        _announce(req, notify)
    return [req for req, _notify in made]


def received_key(req: CustomerRequest) -> str:
    """The event key of a request's acknowledgment (app.notifications.services)."""
    return f"request-received:{req.id}"


def _new_request(customer: Customer, kind: str, *, channel: str = "portal",
                 subject: str | None = None, message: str | None = None,
                 payload: dict | None = None, invoices: Iterable[Invoice] = (),
                 referral_reason: str | None = None, referral_codes: list[dict] | None = None,
                 subject_code: dict | None = None, now: datetime | None = None,
                 assignee: Any = None) -> CustomerRequest:
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    now = now or utcnow()
    req = CustomerRequest(customer=customer, customer_id=customer.id, kind=kind,
                          status="received", channel=channel, subject=subject, message=message,
                          payload=dict(payload or {}), referral_reason=referral_reason,
                          referral_codes=list(referral_codes) if referral_codes else None,
                          subject_code=subject_code,
                          sla_due_at=now + timedelta(hours=sla_hours(kind)),
                          assignee_id=getattr(assignee, "id", None))
    req.invoices = list(invoices)
    return req


def _announce(req: CustomerRequest, notify: bool) -> None:
    """Once the request has its id: the acknowledgment, then the request_opened signal."""
    if notify:
        from app.notifications.services import notify_request_received

        notify_request_received(req)
    request_opened.send(req)


def auto_approve(customer: Customer, kind: str, *, note: str | None = None,
                 **fields: Any) -> CustomerRequest:
    """A request the self-service rules approved at once: recorded as approved, no staff."""
    req = open_request(customer, kind, notify=False, **fields)
    req.status = "approved"
    req.decided_at = req.created_at or utcnow()
    req.decision_note = note
    return req


def decide_request(req: CustomerRequest, user: Any, approve: bool, note: str | None) -> None:
    """Staff approve or reject an open request; the customer sees ``note``.

    Refused (ValidationError, nothing changed) when the request is already decided. The
    request is locked first (app/core/locking.py): of two staff deciding at the same moment,
    the second waits and is refused like one who comes later."""
    claim(req, OPEN_STATUSES, _("This request has already been decided."))
    # The note is set before the handler: a handler tells the customer itself only when
    # there is no note to pass on (the generic answer carries it).
    req.decision_note = (note or "").strip() or None
    handler = _DECISION_HANDLERS.get(req.kind)
    # ``is True``: some handlers return what they made (a refund), which is no answer sent.
    told = handler is not None and handler(req, approve, user) is True
    req.status = "approved" if approve else "rejected"
    req.decided_at = utcnow()
    req.decided_by_id = getattr(user, "id", None)
    if not told:
        from app.notifications.services import notify_request_decided

        notify_request_decided(req)


def sla_state(req: CustomerRequest, now: datetime | None = None) -> str:
    """"done", "breached", "due_soon" or "on_time"."""
    if req.status not in OPEN_STATUSES or req.sla_due_at is None:
        return "done"
    now = now or utcnow()
    if req.sla_due_at <= now:
        return "breached"
    if req.sla_due_at <= now + timedelta(hours=int(get_setting("requests.sla_due_soon_hours"))):
        return "due_soon"
    return "on_time"


# --- after the decision: closing, cancelling, the conversation, the survey -------------------

COMMENT_MAX_CHARS = 5000
SURVEY_COMMENT_MAX_CHARS = 2000
SCORE_MIN, SCORE_MAX = 0, 10


def close_request(req: CustomerRequest, user: Any = None, note: str | None = None) -> None:
    """Staff close a request: an answered question, or a decided request whose follow-up is
    done. An open request closed this way counts as answered (decided_at/by are filled)."""
    claim(req, OPEN_STATUSES + DECIDED_STATUSES, _("This request is already closed."))
    if req.status in OPEN_STATUSES:
        req.decided_at = utcnow()
        req.decided_by_id = getattr(user, "id", None)
        if note and note.strip():
            req.decision_note = note.strip()
    req.status = "closed"


def cancel_request(req: CustomerRequest, user: Any = None) -> None:
    """Withdraw a request nobody has decided yet (the customer changed their mind)."""
    claim(req, OPEN_STATUSES, _("Only a request that is still open can be cancelled."))
    req.status = "cancelled"
    req.decided_at = utcnow()
    req.decided_by_id = getattr(user, "id", None)


def withdraw_request(req: CustomerRequest) -> None:
    """The customer withdraws a request nobody has decided yet (portal). The request is
    claimed like a decision (app/core/locking.py): a staff decision at the same moment and the
    withdrawal cannot both happen; the later one is refused."""
    claim(req, OPEN_STATUSES, _("This request has already been answered: it can no longer be "
                                "withdrawn."))
    handler = _WITHDRAW_HANDLERS.get(req.kind)
    if handler is not None:
        handler(req)
    req.status = "withdrawn"
    req.decided_at = utcnow()
    req.decided_by_id = None


def assign_request(req: CustomerRequest, user: Any) -> None:
    """A staff member takes the request: assigned to them, and "in review" for the customer."""
    claim(req, OPEN_STATUSES, _("This request has already been decided."))
    set_assignee(req, user)
    req.status = "in_review"


def set_assignee(req: CustomerRequest, user: Any | None) -> None:
    """Who handles the request (None: nobody yet). Only while it is open: a decided request
    keeps the name of whoever handled it. ValidationError otherwise, nothing changed."""
    new_id = getattr(user, "id", None)
    if new_id == req.assignee_id:
        return
    if req.status not in OPEN_STATUSES:
        raise ValidationError({"assignee": _("This request has already been decided.")})
    req.assignee_id = new_id


def set_answer_due(req: CustomerRequest, due_at: datetime | None) -> None:
    """Move the time the answer is due (the SLA): only while the request is open. A time
    without a zone is UTC (as the staff form shows it); the same second is no change."""
    if due_at is not None and due_at.tzinfo is None:
        due_at = due_at.replace(tzinfo=UTC)
    if _to_second(due_at) == _to_second(req.sla_due_at):
        return
    if req.status not in OPEN_STATUSES:
        raise ValidationError({"sla_due_at": _("This request has already been decided.")})
    req.sla_due_at = due_at


def _to_second(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0)


def update_handling(req: CustomerRequest, assignee: Any | None,
                    due_at: datetime | None) -> None:
    """Staff's "Handle a customer request" form: who handles it and when the answer is due.
    Decisions are not taken here (decide_request, close_request). The caller commits."""
    set_assignee(req, assignee)
    set_answer_due(req, due_at)


def _clean_text(text: str | None, limit: int, field: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: _("Please write a message.")})
    if len(text) > limit:
        raise ValidationError({field: _("At most %(max)d characters.", max=limit)})
    return text


def add_comment(req: CustomerRequest, text: str | None, *, author: str,
                user: Any = None) -> RequestComment:
    """A message in the request's conversation (the caller commits).

    A staff reply is e-mailed to the customer and puts a received request "in review"; a
    customer may not write on a request that is closed or cancelled."""
    if author not in ("customer", "staff"):
        raise ValueError(f"unknown author {author!r}")
    if author == "customer" and req.status in ("closed", "cancelled", "withdrawn"):
        raise ValidationError({"text": _("This request is closed. Please ask a new question "
                                         "instead.")})
    comment = RequestComment(request=req, request_id=req.id, author=author,
                             user_id=getattr(user, "id", None) if author == "staff" else None,
                             text=_clean_text(text, COMMENT_MAX_CHARS, "text"),
                             created_at=utcnow())
    db.session.add(comment)
    if author == "staff" and req.status == "received":
        req.status = "in_review"
    db.session.flush()
    if author == "staff":
        from app.notifications.services import notify_request_comment

        notify_request_comment(comment)
    return comment


def survey_enabled() -> bool:
    return bool(get_setting("requests.satisfaction_survey"))


def may_rate(req: CustomerRequest) -> bool:
    """The survey is offered once the request has an answer, and answered once."""
    return (req.status in DECIDED_STATUSES + ("closed",) and req.satisfaction_score is None
            and survey_enabled())


def _score(value: Any) -> int:
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError):
        score = None
    if score is None or not SCORE_MIN <= score <= SCORE_MAX:
        raise ValidationError({"score": _("Choose a score from %(low)d to %(high)d.",
                                          low=SCORE_MIN, high=SCORE_MAX)})
    return score


def record_satisfaction(req: CustomerRequest, score: Any, comment: str | None = None,
                        now: datetime | None = None) -> None:
    """The customer's answer to "how likely are you to recommend us" (0-10), once per request.

    Refused (ValidationError, nothing changed) before the request is decided, on a second
    answer, or for a score outside 0-10. The update is conditional on "not answered yet", so
    two answers sent at the same time still record one."""
    if req.status not in DECIDED_STATUSES + ("closed",):
        raise ValidationError({"score": _("You can rate a request once it has been answered.")})
    if req.satisfaction_score is not None:
        raise ValidationError({"score": _("You have already rated this request. Thank you!")})
    value = _score(score)
    comment = (comment or "").strip() or None
    if comment and len(comment) > SURVEY_COMMENT_MAX_CHARS:
        raise ValidationError({"comment": _("At most %(max)d characters.",
                                            max=SURVEY_COMMENT_MAX_CHARS)})
    now = now or utcnow()
    done = db.session.execute(
        update(CustomerRequest)
        .where(CustomerRequest.id == req.id, CustomerRequest.satisfaction_score.is_(None))
        .values(satisfaction_score=value, satisfaction_comment=comment, satisfaction_at=now)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise ValidationError({"score": _("You have already rated this request. Thank you!")})
    db.session.refresh(req)


# --- what one customer sees ------------------------------------------------------------------

def requests_of(customer_id: int) -> list[CustomerRequest]:
    """The customer's requests, newest first (the portal's "My requests")."""
    return list(db.session.scalars(
        select(CustomerRequest).where(CustomerRequest.customer_id == customer_id)
        .order_by(CustomerRequest.created_at.desc(), CustomerRequest.id.desc())))


def request_of(customer_id: int, request_id: int) -> CustomerRequest | None:
    """One request, only if it is this customer's (anything else: None, a 404 for the portal)."""
    return db.session.scalar(select(CustomerRequest).where(
        CustomerRequest.id == request_id, CustomerRequest.customer_id == customer_id))
