"""Notifications: message templates, the outbox, rendering and dispatch through channel plugins."""
