"""Notifications: message templates, the outbox, rendering and dispatch through channel plugins."""
from app.notifications import settings  # noqa: F401  (declares the notification settings)
