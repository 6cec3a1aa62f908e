"""Outbound partner webhooks: the port, the httpx sender and a receiver simulator.

See ``docs/partner-webhooks.md``. The sender POSTs signed events to partners' URLs; the
simulator plays a partner's endpoint (records deliveries, verifies signatures, can be down,
slow or failing) for the tests and the demo.
"""
