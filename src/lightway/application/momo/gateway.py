"""The process-wide MoMo gateway, built from settings (docs/momo.md "Client").

Use cases call :func:`momo_gateway` for the client, :func:`momo_target` for where and as
which market a currency's transactions go, and :func:`callback_url` for the
``X-Callback-Url`` of one reference. Nothing here takes a URL, an environment or a
credential from a caller: all come from configuration.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from django.conf import settings

from lightway.integration.momo.client import MomoClient, ProductCredentials
from lightway.integration.momo.port import MomoConfigError, MomoGateway, MomoTarget, Product

_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], MomoClient] | None = None


def momo_configured() -> bool:
    """Whether MoMo is set up (``MOMO_BASE_URL`` is not empty)."""
    return bool(str(getattr(settings, "MOMO_BASE_URL", "") or "").strip())


def momo_credentials() -> dict[Product, ProductCredentials]:
    """Per-product credentials: ``MOMO_<PRODUCT>_API_USER``/``_API_KEY`` when set, else the
    shared ``MOMO_API_USER``/``MOMO_API_KEY``; ``MOMO_SUBSCRIPTION_KEY_<PRODUCT>``."""
    credentials: dict[Product, ProductCredentials] = {}
    for product in Product:
        name = product.value.upper()
        api_user = getattr(settings, f"MOMO_{name}_API_USER", "") or settings.MOMO_API_USER
        api_key = getattr(settings, f"MOMO_{name}_API_KEY", "") or settings.MOMO_API_KEY
        subscription_key = getattr(settings, f"MOMO_SUBSCRIPTION_KEY_{name}", "")
        missing = [
            setting
            for setting, value in (
                (f"MOMO_{name}_API_USER or MOMO_API_USER", api_user),
                (f"MOMO_{name}_API_KEY or MOMO_API_KEY", api_key),
                (f"MOMO_SUBSCRIPTION_KEY_{name}", subscription_key),
            )
            if not str(value or "").strip()
        ]
        if missing:
            raise MomoConfigError(
                f"MoMo {product.value} is not fully configured: set {', '.join(missing)}",
                code="missing_credentials",
            )
        credentials[product] = ProductCredentials(
            api_user=str(api_user).strip(),
            api_key=str(api_key).strip(),
            subscription_key=str(subscription_key).strip(),
        )
    return credentials


def _settings_key() -> tuple[Any, ...]:
    creds = momo_credentials()
    return (
        str(settings.MOMO_BASE_URL).strip(),
        tuple(
            (p.value, c.api_user, c.api_key, c.subscription_key) for p, c in sorted(creds.items())
        ),
        float(settings.MOMO_TIMEOUT_SECONDS),
        float(settings.MOMO_TOKEN_TIMEOUT_SECONDS),
        float(settings.MOMO_TOKEN_REFRESH_MARGIN_SECONDS),
    )


def momo_gateway() -> MomoGateway:
    """The process-wide :class:`MomoClient` for the current settings (built once and
    shared by every thread, so tokens are cached per process). A change of any MoMo
    setting yields a new client. Raises :class:`MomoConfigError` when not configured."""
    return momo_client()


def momo_client() -> MomoClient:
    """:func:`momo_gateway` typed as the concrete client (token checks, ``close``)."""
    global _cached
    if not momo_configured():
        raise MomoConfigError("MoMo is not configured: set MOMO_BASE_URL", code="not_configured")
    key = _settings_key()
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        base_url, _creds, timeout, token_timeout, margin = key
        client = MomoClient(
            base_url=base_url,
            credentials=momo_credentials(),
            timeout=timeout,
            token_timeout=token_timeout,
            refresh_margin=margin,
        )
        # The previous client may still be in use by another thread: left to the GC.
        _cached = (key, client)
        return client


def momo_gateway_reset() -> None:
    """Forget the cached client and its tokens (tests; after rotating credentials)."""
    global _cached
    with _lock:
        _cached = None


def momo_environments() -> dict[str, str]:
    """``MOMO_ENVIRONMENTS`` ("UGX:mtnuganda,EUR:sandbox") as {currency: environment}."""
    raw = str(getattr(settings, "MOMO_ENVIRONMENTS", "") or "")
    mapping: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        currency, sep, environment = item.partition(":")
        currency, environment = currency.strip().upper(), environment.strip()
        if (
            not sep
            or len(currency) != 3
            or not currency.isalpha()
            or not environment
            or not environment.replace("_", "").isalnum()
        ):
            raise MomoConfigError(
                f"MOMO_ENVIRONMENTS: {item!r} is not CURRENCY:environment (e.g. UGX:mtnuganda)",
                code="bad_environments",
            )
        if currency in mapping and mapping[currency] != environment:
            raise MomoConfigError(
                f"MOMO_ENVIRONMENTS names {currency} twice", code="bad_environments"
            )
        mapping[currency] = environment
    return mapping


def momo_target(currency: str) -> MomoTarget:
    """Base URL and ``X-Target-Environment`` for a transaction in ``currency``; store it
    with the request (a status can only be read where the request was made)."""
    if not momo_configured():
        raise MomoConfigError("MoMo is not configured: set MOMO_BASE_URL", code="not_configured")
    code = (currency or "").strip().upper()
    environment = momo_environments().get(code)
    if environment is None:
        raise MomoConfigError(
            f"MOMO_ENVIRONMENTS has no target environment for currency {code or '(none)'}",
            code="unknown_currency",
        )
    return MomoTarget(
        base_url=str(settings.MOMO_BASE_URL).strip().rstrip("/"), environment=environment
    )


def callback_url(reference_id: uuid.UUID | str) -> str | None:
    """``<MOMO_CALLBACK_URL>/<reference_id>``, or None when callbacks are off (poll only)."""
    base = str(getattr(settings, "MOMO_CALLBACK_URL", "") or "").strip()
    if not base:
        return None
    return f"{base.rstrip('/')}/{uuid.UUID(str(reference_id))}"
