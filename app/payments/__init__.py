"""Payments: money in, allocations, bank statements and matching, references, QR, mandates."""
