"""The customer's robot: API keys a customer controls, webhooks they subscribe to and a
calendar feed (issue 18). Services only; the HTTP layer is app/api/customer/, the portal's
"Connected apps" page app/portal/connected_apps.py."""
