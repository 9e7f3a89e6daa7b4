"""The customer's whole story for staff: the 360° page, the one-box search, the figures at the
top of the page, and the back office screens of customers, contacts, addresses, bank accounts
and mandates.

Above the domains it shows (invoices, payments, requests, pay links, the customer's API keys
and webhooks, self-service changes): it reads them and calls their services; none of them
imports it. What a package adds to the timeline it registers with app.customers.timeline
(register_source), below every package that contributes.
"""
