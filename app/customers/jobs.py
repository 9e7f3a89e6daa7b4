"""Customer background jobs."""
from __future__ import annotations

from sqlalchemy import select

from app.customers.models import Customer
from app.customers.services import compute_balance
from app.extensions import db


def refresh_all_balances(batch_size: int = 500) -> int:
    """Nightly safety net: recompute every denormalised balance; returns how many changed."""
    changed = 0
    last_id = 0
    while True:
        customers = db.session.scalars(
            select(Customer).where(Customer.id > last_id).order_by(Customer.id).limit(batch_size)
        ).all()
        if not customers:
            break
        for customer in customers:
            balance = compute_balance(customer.id)
            if balance != customer.balance:
                customer.balance = balance
                changed += 1
        last_id = customers[-1].id
        db.session.commit()
    return changed
