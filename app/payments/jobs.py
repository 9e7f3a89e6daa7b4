"""Background jobs of the payments domain.

A big statement import books thousands of payments in one transaction; rendering a thank-you
message for each inside it would multiply the import's time. Those payments are committed with
``notified_at`` empty and handed to ``send_payment_messages`` right after the commit. If that
hand-over is lost (the process died between commit and enqueue), ``send_pending_payment_messages``
(scheduled) finds them. The notifications functions are idempotent, so a payment handled twice
still gets one message.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.core.models import utcnow
from app.extensions import db
from app.payments.consequences import queue_payment_messages, refresh_balances
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.models import Payment

BATCH = 500
SWEEP_DAYS = 3  # statements imported this recently are checked for payments not yet thanked


def send_payment_messages(statement_ids: list[int]) -> int:
    """Queue the messages of the statements' payments not thanked yet; returns how many."""
    done = 0
    last_id = 0
    while True:
        payments = db.session.execute(
            select(Payment.id, Payment.customer_id).join(
                StatementLine, StatementLine.id == Payment.statement_line_id)
            .where(StatementLine.statement_id.in_(statement_ids), Payment.id > last_id,
                   Payment.customer_id.is_not(None), Payment.notified_at.is_(None),
                   Payment.status != "returned")
            .order_by(Payment.id).limit(BATCH)).all()
        if not payments:
            return done
        customers = {customer_id for _id, customer_id in payments}
        balances = refresh_balances(customers)
        queue_payment_messages([payment_id for payment_id, _c in payments], balances, customers)
        db.session.commit()
        done += len(payments)
        last_id = payments[-1][0]


def send_pending_payment_messages() -> int:
    """Safety net for the scheduler: recent statements whose messages were never queued."""
    since = utcnow() - timedelta(days=SWEEP_DAYS)
    statement_ids = list(db.session.scalars(
        select(BankStatement.id).where(BankStatement.imported_at >= since)))
    return send_payment_messages(statement_ids) if statement_ids else 0
