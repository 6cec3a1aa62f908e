"""Notification deliveries (the delivery log) and per-user notification preferences."""
