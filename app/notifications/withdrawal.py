"""Withdrawal checks: is a queued message still worth sending?

A message can wait in the outbox (an SMS held by quiet hours, a retry, a letter waiting for its
print batch) while the reason it was written goes away — the customer paid everything a
reminder asks for. Before the delivery job sends a message (app.notifications.jobs) and before a
print batch goes to the printer (app.notifications.print_batches), ``is_moot`` asks every
registered check; one that answers yes has the message withdrawn instead of sent.

The checks belong to the packages that write the messages, above notifications: each registers
its own with ``register_withdrawal_check`` when it is imported (app.dunning.services: a reminder
whose invoices were all settled). app.backoffice imports them at start (WITHDRAWAL_CHECKS), in
the web process, the CLI and the workers alike. A check gets the message's event, idempotency
key and customer id, reads what it needs and answers True (withdraw) or False; it never writes.
"""
from __future__ import annotations

from collections.abc import Callable

WithdrawalCheck = Callable[[str, str, "int | None"], bool]

_CHECKS: list[WithdrawalCheck] = []


def register_withdrawal_check(check: WithdrawalCheck) -> None:
    """Add a check (once) that may withdraw a queued message before it is sent."""
    if check not in _CHECKS:
        _CHECKS.append(check)


def is_moot(event: str, idempotency_key: str, customer_id: int | None) -> bool:
    """True when a registered check says the message must not be sent any more."""
    return any(check(event, idempotency_key, customer_id) for check in _CHECKS)
