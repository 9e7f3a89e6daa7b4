"""A customer's account as the customer sees it: one read model for every door they use.

The portal's pages, the customer API (app.api.customer), pay links (app.paylinks), calendar
feeds and the staff's view of "what the customer sees" read the same figures from here, so a
balance, an invoice's state or a statement can never differ between them. Read only: changes
go through the domain services (app.requests, app.payments, ...).

    invoice_states     an invoice as the customer sees it (deferral, plan, dispute, what is due
                       now) and the customer-scoped SQL pieces the others build on
    overview           the dashboard: balance, what is due, what needs an action
    invoice_list       the invoice list with its tabs, filters and search
    invoice_detail     one invoice with its payments and returned payments
    statement          the account statement for a period (opening balance, lines, aging)
    bank_transfer      how to pay by transfer: IBAN, structured communication, EPC QR
    returned_payments  payments the bank took back, told to the customer
    exports            the statement as PDF and CSV

The statements are built once per process and run with bind parameters (see invoice_states):
the portal's busiest pages are CPU-bound in Python, not in PostgreSQL.
"""
