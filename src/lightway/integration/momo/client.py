"""The MTN MoMo Open API client (httpx): Collection, Disbursement and Remittance.

Implements :class:`~lightway.integration.momo.port.MomoGateway`. What it guarantees
(reference note §2, §9, §14):

* **References come from the caller.** ``create`` sends the ``X-Reference-Id`` it is given
  (a UUID v4 the caller persisted first) and never invents one, so a retry after a timeout
  re-sends the same id and a 409 then means "already created" (:class:`MomoDuplicate`).
* **Tokens** are cached per (product, API user, base URL, target environment), renewed
  ``refresh_margin`` seconds (default 600) before ``expires_in`` runs out - at the latest
  half-way through a short-lived token - by one caller at a time: while a renewal is under
  way the others keep using the still-valid token, and callers whose token has expired wait
  for the renewal and reuse its result. A 401 on a call renews the token once and repeats
  the call once; a second 401 is a :class:`MomoAuthError`.
* **Typed errors**: 409 duplicate, 404 not found, configuration problems (subscription key,
  target environment, callback host, TLS, IP whitelist), business refusals with MoMo's code,
  and everything that may or may not have reached MoMo as :class:`MomoTransient`.
* **Transport**: explicit timeouts on every call (the token call at least 30 s), TLS
  verification always on and not configurable, plain HTTP only to a loopback host (the
  local simulator), no redirects followed, a LightWay ``User-Agent``.
* Every HTTP call is counted (``momo_requests_total``, ``momo_request_duration_seconds``)
  and logged without personal data (no party ids, no names, no URLs with party ids).

Request bodies are built from typed arguments by :func:`requesttopay_body`,
:func:`transfer_body`, :func:`refund_body` and :func:`cashtransfer_body`.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from importlib import metadata
from typing import Any
from urllib.parse import quote

import httpx

from lightway.data.analytics.samples import latency_record
from lightway.infrastructure import metrics
from lightway.integration.http import is_allowed_base_url
from lightway.integration.momo.port import (
    Balance,
    BasicUserInfo,
    MomoAuthError,
    MomoConfigError,
    MomoDuplicate,
    MomoError,
    MomoNotFound,
    MomoRejected,
    MomoResult,
    MomoTarget,
    MomoTransient,
    Operation,
    Party,
    Product,
)

logger = logging.getLogger(__name__)

_ACCOUNT_HOLDER_ID_RE = re.compile(r"(/accountholder/[^/\s\"']+/)[^/\s\"'?]+")


class PartyIdRedactor(logging.Filter):
    """httpx logs every request URL at INFO; account-holder URLs carry a phone number or an
    e-mail address in the path. This filter (on the ``httpx`` logger) masks that segment."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # never break logging
            return True
        if "/accountholder/" in text:
            record.msg, record.args = _ACCOUNT_HOLDER_ID_RE.sub(r"\1***", text), None
        return True


def _install_redactor() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, PartyIdRedactor) for f in httpx_logger.filters):
        httpx_logger.addFilter(PartyIdRedactor())


_install_redactor()

DEFAULT_TIMEOUT_SECONDS = 15.0
# New-platform token calls take 10-20 s (reference note §9, §14.17).
MIN_TOKEN_TIMEOUT_SECONDS = 30.0
DEFAULT_REFRESH_MARGIN_SECONDS = 600.0
# When MoMo omits or garbles ``expires_in``: MTN documents 60 minutes.
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600.0
MESSAGE_MAX_CHARS = 160


def _version() -> str:
    try:
        return metadata.version("lightway-momo")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


# Never "python-requests" or similar: an Azure gateway in front of MTN answers those 403.
DEFAULT_USER_AGENT = f"LightWay-MoMo/{_version()}"

# Error codes that mean "our configuration is wrong", whatever the HTTP status.
CONFIG_CODES = frozenset(
    {
        "NOT_ALLOWED_TARGET_ENVIRONMENT",
        "INVALID_CALLBACK_URL_HOST",
        "INVALID_SUBSCRIPTION_KEY",
        "FORBIDDEN_IP",
        "FORBIDDEN IP",
    }
)
# Codes that say "try again later" even when MoMo sends them as a definite code.
TRANSIENT_CODES = frozenset({"SERVICE_UNAVAILABLE"})


class InsecureMomoUrl(MomoConfigError):
    """The base URL is not HTTPS and not a loopback host."""


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash, or :class:`InsecureMomoUrl` unless it is https://
    (or http:// to a loopback host, i.e. the local simulator)."""
    if is_allowed_base_url(url):
        return url.rstrip("/")
    raise InsecureMomoUrl(
        f"MOMO_BASE_URL must be an https:// URL (plain http only to a loopback host), got {url!r}",
        code="insecure_base_url",
    )


# --- request bodies -------------------------------------------------------------------------

_AMOUNT_RE = re.compile(r"^\d{1,15}(\.\d{1,6})?$")
# MoMo rejects an apostrophe or an ampersand in payerMessage/payeeNote with a 400 (§2.3,
# §14.13); quotes and angle brackets are dropped as well, control characters become spaces.
_MESSAGE_DROP = str.maketrans("", "", "'&\"<>`\u2018\u2019\u201c\u201d")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


def clean_message(text: str | None) -> str:
    """``text`` made acceptable as payerMessage/payeeNote/notificationMessage: characters
    MoMo refuses removed, whitespace collapsed, at most 160 characters."""
    cleaned = _CONTROL_RE.sub(" ", (text or "").translate(_MESSAGE_DROP))
    return " ".join(cleaned.split())[:MESSAGE_MAX_CHARS].strip()


def _amount(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError("MoMo amounts are decimal strings (e.g. Money.as_major_str()), not numbers")
    text = value.strip()
    if not _AMOUNT_RE.match(text):
        raise ValueError(f"not a MoMo amount: {value!r}")
    try:
        if Decimal(text) <= 0:
            raise ValueError("a MoMo amount must be positive")
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a MoMo amount: {value!r}") from exc
    return text


def _currency(value: str) -> str:
    text = (value or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", text):
        raise ValueError(f"not an ISO 4217 currency code: {value!r}")
    return text


def _common_body(
    amount: str, currency: str, external_id: str, payer_message: str, payee_note: str
) -> dict[str, Any]:
    if not external_id or not str(external_id).strip():
        raise ValueError("externalId is required (it is what MTN reports show)")
    return {
        "amount": _amount(amount),
        "currency": _currency(currency),
        "externalId": str(external_id).strip(),
        "payerMessage": clean_message(payer_message),
        "payeeNote": clean_message(payee_note),
    }


def requesttopay_body(
    *,
    amount: str,
    currency: str,
    external_id: str,
    payer: Party,
    payer_message: str = "",
    payee_note: str = "",
) -> dict[str, Any]:
    """Body of ``requesttopay`` and ``requesttowithdraw`` (schema RequestToPay)."""
    body = _common_body(amount, currency, external_id, payer_message, payee_note)
    body["payer"] = payer.as_json()
    return body


def transfer_body(
    *,
    amount: str,
    currency: str,
    external_id: str,
    payee: Party,
    payer_message: str = "",
    payee_note: str = "",
) -> dict[str, Any]:
    """Body of disbursement ``transfer``, ``deposit`` and remittance ``transfer`` (Transfer)."""
    body = _common_body(amount, currency, external_id, payer_message, payee_note)
    body["payee"] = payee.as_json()
    return body


def refund_body(
    *,
    amount: str,
    currency: str,
    external_id: str,
    reference_id_to_refund: uuid.UUID,
    payer_message: str = "",
    payee_note: str = "",
) -> dict[str, Any]:
    """Body of a disbursement ``refund`` of an earlier request-to-pay (schema Refund)."""
    body = _common_body(amount, currency, external_id, payer_message, payee_note)
    body["referenceIdToRefund"] = str(uuid.UUID(str(reference_id_to_refund)))
    return body


PAYER_IDENTIFICATION_TYPES = frozenset(
    {"PASS", "CPFA", "SRSSA", "NRIN", "OTHR", "DRLC", "SOCS", "AREG", "IDCD", "EMID"}
)


def cashtransfer_body(
    *,
    amount: str,
    currency: str,
    external_id: str,
    payee: Party,
    originating_country: str,
    original_amount: str,
    original_currency: str,
    payer_message: str = "",
    payee_note: str = "",
    payer_identification_type: str | None = None,
    payer_identification_number: str | None = None,
    payer_identity: str | None = None,
    payer_first_name: str | None = None,
    payer_surname: str | None = None,
    payer_language_code: str | None = None,
    payer_email: str | None = None,
    payer_msisdn: str | None = None,
    payer_gender: str | None = None,
) -> dict[str, Any]:
    """Body of a remittance ``cashtransfer`` (schema CashTransfer).

    MTN's schema spells the country field ``orginatingCountry``; some MTN deployments and
    SDKs use the correct ``originatingCountry``. Both are sent with the same value (unknown
    JSON fields are ignored), and :func:`originating_country` reads either from a result.
    """
    country = (originating_country or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"originating country must be an ISO 3166 alpha-2 code: {country!r}")
    body = transfer_body(
        amount=amount,
        currency=currency,
        external_id=external_id,
        payee=payee,
        payer_message=payer_message,
        payee_note=payee_note,
    )
    body["orginatingCountry"] = country
    body["originatingCountry"] = country
    body["originalAmount"] = _amount(original_amount)
    body["originalCurrency"] = _currency(original_currency)
    if payer_identification_type is not None:
        if payer_identification_type not in PAYER_IDENTIFICATION_TYPES:
            raise ValueError(f"unknown payerIdentificationType {payer_identification_type!r}")
        body["payerIdentificationType"] = payer_identification_type
    optional = {
        "payerIdentificationNumber": payer_identification_number,
        "payerIdentity": payer_identity,
        "payerFirstName": payer_first_name,
        "payerSurName": payer_surname,
        "payerLanguageCode": payer_language_code,
        "payerEmail": payer_email,
        "payerMsisdn": payer_msisdn,
        "payerGender": payer_gender,
    }
    body.update({k: v for k, v in optional.items() if v not in (None, "")})
    return body


def originating_country(raw: Mapping[str, Any]) -> str | None:
    """The originating country of a cash-transfer body or result, in either spelling."""
    value = raw.get("orginatingCountry") or raw.get("originatingCountry")
    return str(value) if value else None


# --- errors ---------------------------------------------------------------------------------


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def is_subscription_key_error(response: httpx.Response) -> bool:
    """A 401 from the Azure API gateway (bad/missing ``Ocp-Apim-Subscription-Key``), not
    from MoMo's token check: ``{"statusCode": 401, "message": "Access denied due to invalid
    subscription key..."}``."""
    if response.status_code != 401:
        return False
    body = _json_or_none(response)
    message = str(body.get("message") or "") if isinstance(body, dict) else response.text
    return "subscription key" in message.lower()


def _error_code(body: Any) -> tuple[str, str]:
    """(code, message) of an error body: ``{code, message}``, OAuth ``{error}``, APIM
    ``{statusCode, message}`` or a nested ``reason``/``errorReason``."""
    if not isinstance(body, dict):
        return "", ""
    code = body.get("code") or body.get("errorCode") or body.get("error") or ""
    message = body.get("message") or body.get("errorMessage") or body.get("error_description")
    nested = body.get("reason") or body.get("errorReason")
    if not code and isinstance(nested, dict):
        code = nested.get("code") or nested.get("errorCode") or ""
        message = message or nested.get("message") or nested.get("errorMessage")
    elif not code and isinstance(nested, str):
        code = nested
    return str(code).strip(), str(message or "").strip()[:300]


def error_from_response(
    response: httpx.Response, *, what: str, product: Product | None = None
) -> MomoError:
    """The typed error for an unsuccessful MoMo answer (reference note §2.4, §14)."""
    status = response.status_code
    code, message = _error_code(_json_or_none(response))
    detail = (
        f"{what}: HTTP {status}"
        + (f" {code}" if code else "")
        + (f" ({message})" if message else "")
    )
    if status == 401 and is_subscription_key_error(response):
        return MomoConfigError(
            f"{what}: the subscription key was refused (check MOMO_SUBSCRIPTION_KEY_"
            f"{Product(product).value.upper() if product else '<PRODUCT>'})",
            code="INVALID_SUBSCRIPTION_KEY",
            http_status=status,
        )
    if code in CONFIG_CODES:
        return MomoConfigError(detail, code=code, http_status=status)
    if status == 409:
        return MomoDuplicate(detail, code=code or "RESOURCE_ALREADY_EXIST", http_status=status)
    if status == 404:
        return MomoNotFound(detail, code=code or "RESOURCE_NOT_FOUND", http_status=status)
    if status == 401:
        return MomoAuthError(detail, code=code or "UNAUTHORIZED", http_status=status)
    if status == 429 or status in (502, 503, 504) or code in TRANSIENT_CODES:
        return MomoTransient(detail, code=code or f"http_{status}", http_status=status)
    if status == 403 and not code:
        # IP whitelist (FORBIDDEN IP) or a gateway refusing us: nothing a retry fixes.
        return MomoConfigError(detail, code="FORBIDDEN", http_status=status)
    if status in (400, 403) or (status >= 500 and code):
        return MomoRejected(detail, code=code or "REQUEST_REJECTED", http_status=status)
    if status >= 500:
        return MomoTransient(detail, code=f"http_{status}", http_status=status)
    return MomoRejected(detail, code=code or f"http_{status}", http_status=status)


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# --- the client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductCredentials:
    """What one product needs: the API user and key (token) and the product's
    ``Ocp-Apim-Subscription-Key``. Secrets never appear in ``repr``."""

    api_user: str
    api_key: str = field(repr=False)
    subscription_key: str = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    obtained_at: float  # client clock
    expires_at: float
    refresh_at: float  # renew from here on (still valid until expires_at)

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.obtained_at


TokenKey = tuple[Product, str, str, str]  # product, api user, base URL, target environment

_PARTY_PATH_TYPE = {"MSISDN": "msisdn", "EMAIL": "email", "PARTY_CODE": "party_code"}
_BASIC_INFO_TYPE = {"MSISDN": "MSISDN", "EMAIL": "Email"}


def active_from_json(data: Any) -> bool | None:
    """The answer of an account-holder "active" check: ``{"result": true}``, ``"true"``,
    ``"1"``, a bare boolean...; None when it is none of these."""
    value = data.get("result") if isinstance(data, dict) else data
    return _truthy(value)


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no", ""):
            return False
    return None


class MomoClient:
    """Implements :class:`~lightway.integration.momo.port.MomoGateway` over HTTPS.

    One instance is shared by every thread of a process (see
    ``lightway.application.momo.gateway.momo_gateway``): the token cache and the HTTP
    connection pool are thread-safe.
    """

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[Product, ProductCredentials],
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        token_timeout: float = MIN_TOKEN_TIMEOUT_SECONDS,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.base_url = check_base_url(base_url)
        for product, creds in credentials.items():
            if not (creds.api_user and creds.api_key and creds.subscription_key):
                raise MomoConfigError(
                    f"MoMo {product.value} credentials are incomplete (API user, API key and"
                    " subscription key are all required)",
                    code="missing_credentials",
                )
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.credentials: dict[Product, ProductCredentials] = dict(credentials)
        self.timeout = float(timeout)
        self.token_timeout = max(float(token_timeout), MIN_TOKEN_TIMEOUT_SECONDS)
        self.refresh_margin = max(float(refresh_margin), 0.0)
        self._clock = clock
        self._tokens: dict[TokenKey, AccessToken] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.token_requests = 0  # tokens this client asked for (all keys)
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            verify=True,  # always; there is deliberately no way to turn it off
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def close(self) -> None:
        self._http.close()

    # -- plumbing -------------------------------------------------------------------------

    def _creds(self, product: Product) -> ProductCredentials:
        creds = self.credentials.get(Product(product))
        if creds is None:
            raise MomoConfigError(
                f"no MoMo credentials configured for {Product(product).value}",
                code="missing_credentials",
            )
        return creds

    def _root(self, product: Product, target: MomoTarget) -> str:
        base = check_base_url(target.base_url) if target.base_url else self.base_url
        if not target.environment:
            raise MomoConfigError("no X-Target-Environment for this request", code="no_target")
        return f"{base}/{Product(product).value}"

    def _send(
        self,
        *,
        product: Product,
        label: str,
        method: str,
        url: str,
        headers: dict[str, str],
        json_body: Any = None,
        timeout: float | None = None,
        reference_id: uuid.UUID | None = None,
    ) -> httpx.Response:
        """One HTTP exchange, counted and logged; transport failures become typed errors."""
        started = time.perf_counter()
        result = "error"
        status: int | None = None
        try:
            response = self._http.request(
                method,
                url,
                headers=headers,
                json=json_body,
                timeout=httpx.Timeout(timeout or self.timeout),
            )
            status = response.status_code
            result = f"{status // 100}xx"
            return response
        except httpx.TimeoutException as exc:
            result = "timeout"
            raise MomoTransient(
                f"MoMo {label}: no answer in time ({type(exc).__name__})", code="timeout"
            ) from exc
        except httpx.TransportError as exc:
            if _tls_failure(exc):
                raise MomoConfigError(
                    f"MoMo {label}: the server's TLS certificate failed verification",
                    code="tls_verification_failed",
                ) from exc
            raise MomoTransient(
                f"MoMo {label}: connection failed ({type(exc).__name__})", code="connection"
            ) from exc
        finally:
            elapsed = time.perf_counter() - started
            metrics.momo_requests_total.labels(product.value, label, result).inc()
            metrics.momo_request_duration_seconds.labels(product.value, label).observe(elapsed)
            # The same sample for the analytics rollups (data/analytics/samples.py).
            latency_record(
                source="momo_call",
                operation=f"{product.value}.{label}",
                result=result,
                at=datetime.now(UTC),  # wall time: the minute the call counts in
                elapsed_ms=elapsed * 1000,
            )
            log = logger.info if result == "2xx" else logger.warning
            log(
                "momo call",
                extra={
                    "product": product.value,
                    "operation": label,
                    "result": result,
                    "http_status": status,
                    "reference_id": str(reference_id) if reference_id else None,
                    "elapsed_ms": round(elapsed * 1000, 1),
                },
            )

    # -- tokens ---------------------------------------------------------------------------

    def _token_key(self, product: Product, target: MomoTarget) -> TokenKey:
        base = check_base_url(target.base_url) if target.base_url else self.base_url
        return (Product(product), self._creds(product).api_user, base, target.environment)

    def _lock(self, key: TokenKey) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def _token_fetch(self, product: Product, target: MomoTarget) -> AccessToken:
        creds = self._creds(product)
        basic = base64.b64encode(f"{creds.api_user}:{creds.api_key}".encode()).decode("ascii")
        headers = {
            "Authorization": f"Basic {basic}",
            "Ocp-Apim-Subscription-Key": creds.subscription_key,
            "X-Target-Environment": target.environment,  # mandatory on the 2026 platform
        }
        with self._locks_guard:
            self.token_requests += 1
        requested_at = self._clock()
        response = self._send(
            product=product,
            label="token",
            method="POST",
            url=f"{self._root(product, target)}/token/",  # no body (a body is a 400 cause)
            headers=headers,
            timeout=self.token_timeout,
        )
        what = f"MoMo {product.value} token"
        if response.status_code != 200:
            if is_subscription_key_error(response):
                raise error_from_response(response, what=what, product=product)
            code, message = _error_code(_json_or_none(response))
            status = response.status_code
            if status in (401, 403) or code in ("login_failed", "invalid_client"):
                raise MomoAuthError(
                    f"{what} refused: HTTP {status} {code or ''} - check MOMO_API_USER /"
                    f" MOMO_API_KEY for {product.value}".replace("  ", " "),
                    code=code or "login_failed",
                    http_status=status,
                )
            if status == 400 or code in CONFIG_CODES:
                raise MomoConfigError(
                    f"{what}: HTTP {status} {code} {message}".strip(),
                    code=code or "bad_request",
                    http_status=status,
                )
            raise MomoTransient(
                f"{what}: HTTP {status}", code=code or f"http_{status}", http_status=status
            )
        body = _json_or_none(response)
        value = body.get("access_token") if isinstance(body, dict) else None
        if not value:
            raise MomoTransient(f"{what}: answer without an access_token", code="bad_token")
        try:
            lifetime = float(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
        if not math.isfinite(lifetime):
            lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
        lifetime = max(lifetime, 1.0)
        # Renew refresh_margin early, but never in the first half of a short-lived token
        # (otherwise a 5-minute token with a 10-minute margin would be renewed every call).
        renew_after = max(lifetime - self.refresh_margin, lifetime / 2)
        logger.info(
            "momo token issued",
            extra={
                "product": product.value,
                "environment": target.environment,
                "expires_in": lifetime,
            },
        )
        return AccessToken(
            value=str(value),
            obtained_at=requested_at,
            expires_at=requested_at + lifetime,
            refresh_at=requested_at + renew_after,
        )

    def _token(self, product: Product, target: MomoTarget) -> AccessToken:
        """A valid token for (product, target), renewing it when due (one caller at a time)."""
        key = self._token_key(product, target)
        token = self._tokens.get(key)
        now = self._clock()
        if token is not None and now < token.refresh_at:
            return token
        lock = self._lock(key)
        if token is not None and now < token.expires_at:
            # Renewal due but the token still works: one caller renews, the others go on
            # with the current token instead of queueing behind a slow token call.
            if not lock.acquire(blocking=False):
                return token
            try:
                current = self._tokens.get(key)
                if current is not token and current is not None:
                    return current
                try:
                    fresh = self._token_fetch(product, target)
                except MomoTransient:
                    logger.warning(
                        "momo token renewal failed; the current token is still valid",
                        extra={"product": product.value},
                    )
                    return token
                self._tokens[key] = fresh
                return fresh
            finally:
                lock.release()
        with lock:
            current = self._tokens.get(key)
            if current is not None and self._clock() < current.refresh_at:
                return current
            fresh = self._token_fetch(product, target)
            self._tokens[key] = fresh
            return fresh

    def _token_replace(
        self, product: Product, target: MomoTarget, rejected: AccessToken
    ) -> tuple[AccessToken, bool]:
        """MoMo answered 401 to ``rejected``: (token to retry with, whether it was fetched
        for this caller). Another caller may already have replaced it: then that one."""
        key = self._token_key(product, target)
        with self._lock(key):
            current = self._tokens.get(key)
            if current is not None and current is not rejected:
                return current, False
            fresh = self._token_fetch(product, target)
            self._tokens[key] = fresh
            return fresh, True

    def token_refresh(self, product: Product, *, target: MomoTarget) -> AccessToken:
        """Fetch a new token now (``lightway check`` proves the credentials with it)."""
        key = self._token_key(product, target)
        with self._lock(key):
            fresh = self._token_fetch(product, target)
            self._tokens[key] = fresh
            return fresh

    def tokens_clear(self) -> None:
        with self._locks_guard:
            self._tokens.clear()

    # -- authenticated calls ----------------------------------------------------------------

    def _call(
        self,
        product: Product,
        label: str,
        method: str,
        path: str,
        *,
        target: MomoTarget,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        reference_id: uuid.UUID | None = None,
    ) -> httpx.Response:
        """Send an authenticated call; on a 401 renew the token and repeat the call.

        A call renews the token at most once: a 401 reaches the caller (as
        :class:`MomoAuthError`) only when a token fetched for this very call is refused.
        If another thread had already replaced the refused token, that one is tried first
        (it may itself have expired meanwhile: then this call renews). Returns the
        response (any status other than a token 401)."""
        creds = self._creds(product)
        url = f"{self._root(product, target)}{path}"
        token = self._token(product, target)
        renewed = False
        for _attempt in range(3):
            all_headers = {
                "Authorization": f"Bearer {token.value}",
                "Ocp-Apim-Subscription-Key": creds.subscription_key,
                "X-Target-Environment": target.environment,
                **(headers or {}),
            }
            response = self._send(
                product=product,
                label=label,
                method=method,
                url=url,
                headers=all_headers,
                json_body=json_body,
                reference_id=reference_id,
            )
            if response.status_code != 401 or is_subscription_key_error(response):
                return response
            if renewed:
                break
            logger.info(
                "momo token refused; renewing",
                extra={"product": product.value, "operation": label},
            )
            token, renewed = self._token_replace(product, target, token)
        code, _message = _error_code(_json_or_none(response))
        raise MomoAuthError(
            f"MoMo {product.value} {label}: 401 after renewing the token",
            code=code or "UNAUTHORIZED",
            http_status=401,
        )

    # -- MomoGateway ------------------------------------------------------------------------

    def create(
        self,
        operation: Operation,
        *,
        reference_id: uuid.UUID,
        body: dict[str, Any],
        target: MomoTarget,
        callback_url: str | None = None,
    ) -> None:
        """POST ``operation`` with ``X-Reference-Id: reference_id``; returns on 202.

        Re-sending after a timeout must use the same ``reference_id`` (then a 409 raises
        :class:`MomoDuplicate`: MoMo has it - read its status).
        """
        operation = Operation(operation)
        spec = operation.spec
        ref = uuid.UUID(str(reference_id))
        if ref.version != 4:
            raise ValueError("X-Reference-Id must be a UUID version 4")
        if not isinstance(body, dict):
            raise TypeError("body must be a dict built by the *_body helpers")
        if spec.party_field and not isinstance(body.get(spec.party_field), dict):
            raise ValueError(f"{operation.value} needs a '{spec.party_field}' party")
        headers = {"X-Reference-Id": str(ref), "Content-Type": "application/json"}
        if callback_url is not None:
            if not callback_url.strip():
                raise ValueError("an empty X-Callback-Url is refused by MoMo; pass None")
            headers["X-Callback-Url"] = callback_url
        response = self._call(
            spec.product,
            operation.value,
            "POST",
            spec.create_path,
            target=target,
            json_body=body,
            headers=headers,
            reference_id=ref,
        )
        if response.status_code in (200, 201, 202):
            return
        raise error_from_response(response, what=f"MoMo {operation.value}", product=spec.product)

    def status(
        self, operation: Operation, *, reference_id: uuid.UUID, target: MomoTarget
    ) -> MomoResult:
        """GET ``{status_path}/{reference_id}`` (200 also for FAILED); 404 raises
        :class:`MomoNotFound`."""
        operation = Operation(operation)
        spec = operation.spec
        ref = uuid.UUID(str(reference_id))
        response = self._call(
            spec.product,
            f"{operation.value}_status",
            "GET",
            f"{spec.status_path}/{ref}",
            target=target,
            reference_id=ref,
        )
        if response.status_code != 200:
            raise error_from_response(
                response, what=f"MoMo {operation.value} status", product=spec.product
            )
        data = _json_or_none(response)
        if not isinstance(data, dict):
            raise MomoTransient(
                f"MoMo {operation.value} status: the answer is not a JSON object",
                code="bad_response",
                http_status=200,
            )
        return MomoResult.from_json(data)

    def account_holder_active(self, product: Product, party: Party, *, target: MomoTarget) -> bool:
        """Whether the wallet is registered and active. MoMo answers ``{"result": true}``
        (or ``"true"``/``"1"``, or a bare boolean): false for an unknown or inactive holder."""
        product = Product(product)
        id_type = _PARTY_PATH_TYPE.get(party.party_id_type.upper())
        if id_type is None:
            raise ValueError(f"unsupported party id type {party.party_id_type!r}")
        path = f"/v1_0/accountholder/{id_type}/{quote(party.party_id, safe='')}/active"
        response = self._call(product, "accountholder_active", "GET", path, target=target)
        if response.status_code != 200:
            raise error_from_response(
                response, what=f"MoMo {product.value} active check", product=product
            )
        data = _json_or_none(response)
        parsed = active_from_json(response.text if data is None else data)
        if parsed is None:
            raise MomoTransient(
                "MoMo active check: unexpected answer", code="bad_response", http_status=200
            )
        return parsed

    def basic_user_info(
        self, product: Product, party: Party, *, target: MomoTarget
    ) -> BasicUserInfo:
        """The holder's registered name (for beneficiary name checks).

        Collection and Disbursement (Nov-2024 spec) use
        ``/v1_0/accountholder/{MSISDN|Email}/{id}/basicuserinfo``; Remittance and the older
        exports use ``/v1_0/accountholder/msisdn/{msisdn}/basicuserinfo``. The typed path is
        tried first where it exists and the legacy one after a 404.
        """
        product = Product(product)
        kind = party.party_id_type.upper()
        party_id = quote(party.party_id, safe="")
        paths: list[str] = []
        if product is not Product.REMITTANCE and kind in _BASIC_INFO_TYPE:
            paths.append(f"/v1_0/accountholder/{_BASIC_INFO_TYPE[kind]}/{party_id}/basicuserinfo")
        if kind == "MSISDN":
            paths.append(f"/v1_0/accountholder/msisdn/{party_id}/basicuserinfo")
        if not paths:
            raise ValueError(f"basic user info is not available by {party.party_id_type}")
        error: MomoError | None = None
        for path in paths:
            response = self._call(product, "basicuserinfo", "GET", path, target=target)
            if response.status_code == 200:
                data = _json_or_none(response)
                if not isinstance(data, dict):
                    raise MomoTransient(
                        "MoMo basic user info: the answer is not a JSON object",
                        code="bad_response",
                        http_status=200,
                    )
                return BasicUserInfo(
                    given_name=str(data.get("given_name") or data.get("givenName") or ""),
                    family_name=str(data.get("family_name") or data.get("familyName") or ""),
                    name=str(data.get("name") or ""),
                    raw=data,
                )
            error = error_from_response(
                response, what=f"MoMo {product.value} basic user info", product=product
            )
            if not isinstance(error, MomoNotFound):
                raise error
        assert error is not None
        raise error

    def balance(
        self, product: Product, *, target: MomoTarget, currency: str | None = None
    ) -> Balance:
        """The float's available balance (``/v1_0/account/balance[/{currency}]``)."""
        product = Product(product)
        path = "/v1_0/account/balance"
        if currency:
            path += f"/{_currency(currency)}"
        response = self._call(product, "balance", "GET", path, target=target)
        if response.status_code != 200:
            raise error_from_response(
                response, what=f"MoMo {product.value} balance", product=product
            )
        data = _json_or_none(response)
        if not isinstance(data, dict) or data.get("availableBalance") is None:
            raise MomoTransient(
                "MoMo balance: answer without availableBalance",
                code="bad_response",
                http_status=200,
            )
        return Balance(
            available_balance=str(data["availableBalance"]),
            currency=str(data.get("currency") or currency or ""),
        )

    def delivery_notification(
        self,
        *,
        reference_id: uuid.UUID,
        message: str,
        target: MomoTarget,
        language: str | None = None,
    ) -> None:
        """Ask MoMo to send the payer of a SUCCESSFUL request-to-pay an extra SMS.

        409 (not successful yet) and 410 (window over) raise :class:`MomoRejected`;
        429 (already sent for this reference) raises :class:`MomoDuplicate`.
        """
        ref = uuid.UUID(str(reference_id))
        text = clean_message(message)
        if not text:
            raise ValueError("a delivery notification needs a message")
        # The header must be plain ASCII; the JSON body carries the full text.
        headers = {
            "notificationMessage": text.encode("ascii", "ignore").decode("ascii") or "-",
            "Content-Type": "application/json",
        }
        if language:
            headers["Language"] = language
        response = self._call(
            Product.COLLECTION,
            "deliverynotification",
            "POST",
            f"{Operation.REQUEST_TO_PAY.spec.status_path}/{ref}/deliverynotification",
            target=target,
            json_body={"notificationMessage": text},
            headers=headers,
            reference_id=ref,
        )
        status = response.status_code
        if status in (200, 202):
            return
        code, _detail = _error_code(_json_or_none(response))
        what = f"MoMo delivery notification: HTTP {status}"
        if status == 409:
            raise MomoRejected(
                f"{what} (the payment is not successful)",
                code=code or "TRANSACTION_NOT_COMPLETED",
                http_status=status,
            )
        if status == 410:
            raise MomoRejected(
                f"{what} (notification window over)", code=code or "EXPIRED", http_status=status
            )
        if status == 429:
            raise MomoDuplicate(
                f"{what} (already sent)", code=code or "ALREADY_NOTIFIED", http_status=status
            )
        raise error_from_response(
            response, what="MoMo delivery notification", product=Product.COLLECTION
        )
