"""Signals the requests domain sends to the packages above it (they import this module).

* ``request_opened`` — sent by services.open_request, the one place every front door (portal,
  pay link, customer API, staff, e-mail replies) records a customer request through: sender =
  the CustomerRequest (flushed, with its kind, channel and invoices). Received by
  app.dunning.holds, which releases the reminder holds that awaited such a request (a reply
  "I need more time" is settled by a deferral or a plan, a reply "this is wrong" by a dispute).

Receivers run in the caller's transaction (the caller commits); they inform, never refuse.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

request_opened = _signals.signal("request-opened")
