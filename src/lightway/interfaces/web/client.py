"""The address a request came from, for rate limits (never logged, never stored in clear).

Behind ``LIGHTWAY_PROXY_HOPS`` trusted reverse proxies (load balancer, TLS terminator) the
client is the address the outermost of them saw: the entry that many places from the right
of ``X-Forwarded-For`` (entries further left are whatever the client chose to send).
Without proxies (0, the default) it is the socket's peer, ``REMOTE_ADDR``.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    hops = int(getattr(settings, "LIGHTWAY_PROXY_HOPS", 0))
    address = str(request.META.get("REMOTE_ADDR") or "")
    if hops > 0:
        forwarded = [
            part.strip()
            for part in str(request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return ""
