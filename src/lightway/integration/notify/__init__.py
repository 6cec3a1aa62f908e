"""Outbound notifications: the SMS gateway port and its HTTP client, the SMTP email sender,
and a local simulator of both providers (see docs/notifications.md)."""
