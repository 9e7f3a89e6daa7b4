""""My work today": what waits for the signed-in staff member, with counts for the home page.

Queues: requests near or past their SLA (assigned to me, or to nobody), statement lines and
payments not matched yet, returned payments (returns and reversals) not reviewed, messages that
failed, customers flagged by the risk signals, active payment plans with an instalment overdue
(about to break). Each queue is one COUNT for the home page and one short list on the "My work
today" page, with a link to the full list.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from werkzeug.routing import BuildError

from app.core.i18n import day, money
from app.core.models import utcnow
from app.core.settings import get_setting
from app.core.time import business_today
from app.extensions import db

LIST_SIZE = 20


@dataclass
class Queue:
    key: str
    label: Any
    count: int
    url: str | None
    rows: list[tuple[str, str | None, str]]  # (text, link, detail)


def _url(endpoint: str, **values) -> str | None:
    if not has_request_context():
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _may(permission: str, view: str) -> bool:
    if not has_request_context():
        return True
    return current_app.appbuilder.sm.has_access(permission, view)


def _user_id(user) -> int | None:
    if user is None and has_request_context():
        user = getattr(g, "user", None)
    return getattr(user, "id", None)


def _requests(user_id, now: datetime, rows: bool):
    from app.requests.models import CustomerRequest

    soon = now + timedelta(hours=int(get_setting("requests.sla_due_soon_hours")))
    query = select(CustomerRequest).where(
        CustomerRequest.status.in_(("received", "in_review")),
        CustomerRequest.sla_due_at <= soon,
        or_(CustomerRequest.assignee_id.is_(None), CustomerRequest.assignee_id == user_id))
    count = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    listed = []
    if rows and count:
        for req in db.session.scalars(query.order_by(CustomerRequest.sla_due_at).limit(LIST_SIZE)):
            late = req.sla_due_at <= now
            listed.append((f"#{req.id} {req.customer.number} {req.customer.name}",
                           _url("CustomerRequestView.show", pk=req.id),
                           str(_l("late")) if late else str(_l("due soon"))))
    return count, listed


def _unmatched_lines(rows: bool):
    from app.payments.incoming.models import StatementLine

    query = select(StatementLine).where(StatementLine.status.in_(("unmatched", "suggested")),
                                        StatementLine.kind == "payment")
    count = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    listed = []
    if rows and count:
        for line in db.session.scalars(query.order_by(StatementLine.booking_date.desc())
                                       .limit(LIST_SIZE)):
            listed.append((f"{day(line.booking_date)} {money(line.amount)}",
                           _url("MatchingQueueView.line", line_id=line.id),
                           line.counterparty_name or ""))
    return count, listed


def _unmatched_payments(rows: bool):
    from app.payments.models import Payment

    query = select(Payment).where(Payment.status == "unmatched")
    count = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    listed = []
    if rows and count:
        for payment in db.session.scalars(query.order_by(Payment.received_on.desc())
                                          .limit(LIST_SIZE)):
            listed.append((f"{day(payment.received_on)} {money(payment.amount)}",
                           _url("PaymentView.show", pk=payment.id),
                           payment.counterparty_name or ""))
    return count, listed


def _returns_to_review(rows: bool):
    from app.payments.incoming.returns import unreviewed_return_lines, unreviewed_returns

    count, _amount = unreviewed_returns()
    listed = []
    if rows and count:
        for line in unreviewed_return_lines(LIST_SIZE):
            listed.append((f"{day(line.booking_date)} {money(line.amount)}",
                           _url("MatchingQueueView.line", line_id=line.id),
                           " ".join(p for p in (line.counterparty_name, line.return_reason)
                                    if p)))
    return count, listed


def _failed_messages(now: datetime, rows: bool):
    from app.notifications.models import Message

    since = now - timedelta(days=30)
    query = select(Message).where(Message.status == "failed", Message.created_at >= since)
    count = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    listed = []
    if rows and count:
        for message in db.session.scalars(query.order_by(Message.created_at.desc())
                                          .limit(LIST_SIZE)):
            listed.append((f"{message.event} → {message.recipient}",
                           _url("MessageView.show", pk=message.id), (message.error or "")[:120]))
    return count, listed


def _flagged(rows: bool):
    from app.selfservice.risk import FLAG_LABELS, flagged_customers

    customers, count = flagged_customers(LIST_SIZE if rows else 0)
    listed = [(f"{c.number} {c.name}", _url("Customer360View.show", pk=c.id),
               ", ".join(str(FLAG_LABELS.get(f, f)) for f in (c.risk_flags or []))
               + f" · {money(c.overdue)}")
              for c in customers] if rows else []
    return count, listed


def _plans_at_risk(today: date, rows: bool):
    from app.requests.models import Installment, PaymentPlan

    late_plan_ids = (select(Installment.plan_id)
                     .where(Installment.status != "paid", Installment.due_date < today)
                     .distinct())
    query = select(PaymentPlan).where(PaymentPlan.status == "active",
                                      PaymentPlan.id.in_(late_plan_ids))
    count = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    listed = []
    if rows and count:
        for plan in db.session.scalars(query.order_by(PaymentPlan.id).limit(LIST_SIZE)):
            listed.append((f"#{plan.id} {plan.customer.name}",
                           _url("Customer360View.show", pk=plan.customer_id), money(plan.total_amount)))
    return count, listed


def _late_jobs(now: datetime, rows: bool):
    from app.core.job_runs import STATUS_LABELS, late_jobs

    late = late_jobs(now)
    listed = []
    if rows:
        for state in late[:LIST_SIZE]:
            status = state.today.status if state.today is not None else None
            listed.append((state.name, _url("ScheduledJobView.index"),
                           str(STATUS_LABELS.get(status, status)) if status
                           else str(_l("not enqueued"))))
    return len(late), listed


def _replies(rows: bool):
    from app.inbound.timeline import replies_queue

    return replies_queue(rows, LIST_SIZE)


def work_queues(user=None, rows: bool = False, now: datetime | None = None,
                today: date | None = None) -> list[Queue]:
    """The queues for ``user`` (default: the signed-in staff member)."""
    now = now or utcnow()
    today = today or business_today()
    uid = _user_id(user)
    specs = [
        ("requests", _l("Requests near or past their deadline"),
         lambda: _requests(uid, now, rows), "CustomerRequestView.list", "CustomerRequestView"),
        ("statement_lines", _l("Bank lines to match"), lambda: _unmatched_lines(rows),
         "MatchingQueueView.index", "MatchingQueueView"),
        ("payments", _l("Unmatched payments"), lambda: _unmatched_payments(rows),
         "PaymentView.list", "PaymentView"),
        ("returns", _l("Returned payments to review"), lambda: _returns_to_review(rows),
         "CashView.index", "CashView"),
        ("messages", _l("Messages that failed"), lambda: _failed_messages(now, rows),
         "MessageView.list", "MessageView"),
        ("flagged", _l("Customers to call (risk signals)"), lambda: _flagged(rows),
         "WorkQueueView.flagged", "WorkQueueView"),
        ("plans", _l("Payment plans about to break"), lambda: _plans_at_risk(today, rows),
         "PaymentPlanView.list", "PaymentPlanView"),
        ("replies", _l("Customer replies to read"), lambda: _replies(rows),
         "InboundReplyView.index", "InboundReplyView"),
        ("late_jobs", _l("Daily jobs late or failed"), lambda: _late_jobs(now, rows),
         "ScheduledJobView.index", "ScheduledJobView"),
    ]
    queues = []
    for key, label, compute, endpoint, view in specs:
        if view is not None and not _may("can_list", view):
            continue
        count, listed = compute()
        queues.append(Queue(key, label, count, _url(endpoint) if endpoint else None, listed))
    return queues


def work_counts(user=None) -> dict[str, int]:
    return {q.key: q.count for q in work_queues(user)}


class WorkQueueView(BaseView):
    """My work today; the staff lists of customers to call and customers to verify."""

    route_base = "/mywork"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        return self.render_template("customers/work.html", queues=work_queues(rows=True))

    @expose("/flagged")
    @has_access
    @permission_name("list")
    def flagged(self):
        from app.selfservice.risk import FLAG_LABELS, flagged_customers

        page = max(1, _int_arg("page"))
        customers, total = flagged_customers(50, (page - 1) * 50)
        return self.render_template("customers/customer_list.html", customers=customers,
                                    total=total, page=page, title=_l("Customers to call"),
                                    flag_labels=FLAG_LABELS, list_id="flagged-customers")

    @expose("/unverified")
    @has_access
    @permission_name("list")
    def unverified(self):
        from app.customers.welcome import unverified_customers

        page = max(1, _int_arg("page"))
        customers, total = unverified_customers(50, (page - 1) * 50)
        return self.render_template("customers/customer_list.html", customers=customers,
                                    total=total, page=page,
                                    title=_l("Customers who have not confirmed their details"),
                                    flag_labels={}, list_id="unverified-customers")


def _int_arg(name: str) -> int:
    from flask import request

    return request.args.get(name, 1, type=int) or 1


def register(appbuilder: AppBuilder) -> None:
    # The two links are pages of the same view: the menu checks that view's rights.
    view = appbuilder.add_view(WorkQueueView, "My work today", label=_l("My work today"),
                        icon="fa-tasks", category="Receivables")
    appbuilder.add_link("Customers to call", label=_l("Customers to call"),
                        href="/mywork/flagged", icon="fa-phone", category="Receivables",
                        baseview=view)
    appbuilder.add_link("Unverified customers", label=_l("Unverified customers"),
                        href="/mywork/unverified", icon="fa-user-times", category="Receivables",
                        baseview=view)
