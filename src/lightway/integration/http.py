"""What the providers' HTTP clients share: which base URLs they accept.

A provider is reached over HTTPS; plain HTTP only to a loopback host (a local simulator).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_allowed_base_url(url: str) -> bool:
    """Whether ``url`` is an https:// URL with a host, or http:// to a loopback host."""
    parts = urlsplit(url or "")
    return bool(parts.hostname) and (
        parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))
    )
