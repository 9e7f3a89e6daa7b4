"""Signals the payments domain sends to the packages above it (they import this module; payments
imports none of them).

* ``money_booked`` — sent by Consequences.apply() (the one funnel of every booking path: statement
  matching and import, manual allocation and picking, online checkouts, the API) when money
  received was booked: sender "payments"; ``customers``: {customer id: ids of the invoices the
  money went to (empty when it stays on the account as a credit)}. Received by
  app.dunning.holds, which releases the holds that awaited that payment.

Receivers run in the booking's transaction (the caller commits); they inform, never refuse.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

money_booked = _signals.signal("money-booked")
