"""Customer requests ("cases"): deferral, payment plan, dispute, data change, ... with an SLA."""
