"""Pay links: from a reminder to paid in one minute on a phone.

A pay link is a signed, unguessable address put in every message that asks for money
(reminders, the notice before the due date, instalment notices, a broken promise). It is bound
to that message's customer and invoices, and opens - without signing in - a page that shows
only what the message is about: the amount to pay now, its invoices, the EPC QR code and bank
details, "Pay online", "I need more time" and "Pay in instalments". Nothing else of the account
is visible and nothing else can be changed.

- models.py: PayLink (stored as a hash, bound to customer + invoices, expiry, revocation),
  PayLinkEvent (every use, shown on the customer's timeline), SmsSignInCode (portal sign-in by
  SMS code);
- services.py: ``pay_link_url`` (the one function other domains call), resolving a token,
  revoking, recording uses;
- scope.py: what the page shows (amounts from the portal's own balance rules);
- sms_signin.py: sign in with a code sent to a confirmed mobile number.
The pages live in app/portal/pay_link.py and app/portal/sms_login.py.
"""
