"""Payments: money in, money out, and what every way of paying shares.

Shared here: Payment and Allocation (models), booking and allocating money (services) and what
follows from it (consequences), payment references (OGM/RF), EPC QR codes, the payment lists
(views) and the background jobs. The three rooms:

    incoming/  bank statements, matching, the cash and matching screens
    outgoing/  direct debit, refunds, SEPA files, returns, approval limits
    online/    online checkouts through payment-provider plugins
"""
