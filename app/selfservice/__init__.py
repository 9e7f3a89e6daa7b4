"""Self-service: what a customer (or staff on their behalf) changes about their own relationship
— the refund account with its cool-off, SEPA mandates, profile details and e-mail address,
preferences and the SMS confirmation code — and the offer of help that risk signals trigger.

Each is a use case over the customer's rows (app.customers) that opens or answers a request
(app.requests) and tells the customer (app.notifications): so it sits above all three, beside
the customer's account (app.accounts), pay links and the customer API, which call it. The
portal, the customer API, the pay link pages, the 360° page and the CLI are its front doors.
"""
