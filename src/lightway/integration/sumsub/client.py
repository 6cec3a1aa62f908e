"""The Sumsub API client (httpx): signs exactly what it sends, maps errors to types.

Each request is built first and then signed over ``request.url.raw_path`` (the path and
query as they go on the wire, percent-encoding included) and the request's body bytes,
with a fresh timestamp per attempt; so query parameters, matrix parameters and bodies can
never differ between what is signed and what is sent (reference note §2, §10.1-4).

TLS verification stays on, every call has explicit timeouts, and plain HTTP is refused
except to a loopback host (the local simulator). A 429 is retried a few times with
exponential back-off (honouring ``Retry-After``); nothing else is retried here.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx

from lightway.integration.http import is_allowed_base_url, is_loopback_url
from lightway.integration.sumsub.port import (
    AccessToken,
    Applicant,
    NewApplicant,
    Review,
    SumsubConflict,
    SumsubError,
    SumsubNotFound,
    SumsubRateLimited,
    SumsubUnauthorized,
    SumsubUnavailable,
)
from lightway.integration.sumsub.signing import request_signature

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_EXISTING_ID_RE = re.compile(r"already exists:\s*([0-9a-f]{24})")


class InsecureSumsubUrl(ValueError):
    """The base URL is not HTTPS and not a loopback host."""


def _check_base_url(url: str) -> str:
    if is_allowed_base_url(url):
        return url.rstrip("/")
    raise InsecureSumsubUrl(
        f"SUMSUB_BASE_URL must be an https:// URL (plain http only to a loopback host), got {url!r}"
    )


def _error_from(response: httpx.Response) -> SumsubError:
    try:
        body = response.json()
        if not isinstance(body, dict):
            body = {}
    except ValueError:
        body = {}
    description = str(body.get("description") or response.reason_phrase or "")
    code = body.get("errorCode")
    kwargs: dict[str, Any] = {
        "code": int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        "error_name": body.get("errorName"),
        "description": description,
        "correlation_id": body.get("correlationId"),
    }
    status = response.status_code
    if status == 409:
        match = _EXISTING_ID_RE.search(description)
        return SumsubConflict(
            status, existing_applicant_id=match.group(1) if match else None, **kwargs
        )
    if status == 429:
        return SumsubRateLimited(status, retry_after=_retry_after(response), **kwargs)
    if status == 401:
        return SumsubUnauthorized(status, **kwargs)
    if status == 404:
        return SumsubNotFound(status, **kwargs)
    if status >= 500:
        return SumsubUnavailable(status, **kwargs)
    return SumsubError(status, **kwargs)


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 1.0


class SumsubClient:
    """Implements :class:`~lightway.integration.sumsub.port.KycProvider` over HTTPS."""

    def __init__(
        self,
        *,
        base_url: str,
        app_token: str,
        secret_key: str,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        rate_limit_retries: int = 2,
        max_backoff_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not app_token or not secret_key:
            raise ValueError("Sumsub app token and secret key are required")
        self.base_url = _check_base_url(base_url)
        self.app_token = app_token
        self._secret_key = secret_key.encode("utf-8")
        self._clock = clock
        self._sleep = sleep
        self._rate_limit_retries = rate_limit_retries
        self._max_backoff = max_backoff_seconds
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            verify=True,
            follow_redirects=False,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    # -- wire ----------------------------------------------------------------------------

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        content: bytes | None,
        content_type: str | None,
    ) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        request = self._http.build_request(
            method, path, params=params, content=content, headers=headers
        )
        body = request.read()
        ts = str(int(self._clock()))
        request.headers["X-App-Token"] = self.app_token
        request.headers["X-App-Access-Ts"] = ts
        request.headers["X-App-Access-Sig"] = request_signature(
            secret_key=self._secret_key,
            ts=ts,
            method=request.method,
            path_with_query=request.url.raw_path,
            body=body,
        )
        try:
            return self._http.send(request)
        except httpx.TimeoutException as exc:
            raise SumsubUnavailable(0, description=f"timeout: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise SumsubUnavailable(0, description=f"transport: {type(exc).__name__}") from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        """Send one signed request and return its parsed JSON (raises a SumsubError)."""
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
            content_type = "application/json"
        attempt = 0
        while True:
            response = self._send_once(
                method, path, params=params, content=content, content_type=content_type
            )
            if response.status_code == 429 and attempt < self._rate_limit_retries:
                wait = min(max(_retry_after(response), 0.25 * 2**attempt), self._max_backoff)
                logger.warning(
                    "sumsub rate limited", extra={"path": path.split("?")[0], "wait": wait}
                )
                attempt += 1
                self._sleep(wait)
                continue
            if response.status_code >= 400:
                error = _error_from(response)
                logger.info(
                    "sumsub error",
                    extra={
                        "status": error.status,
                        "error_code": error.code,
                        "correlation_id": error.correlation_id,
                    },
                )
                raise error
            try:
                return response.json() if response.content else {}
            except ValueError as exc:
                raise SumsubUnavailable(
                    response.status_code, description="answer is not JSON"
                ) from exc

    # -- KycProvider ---------------------------------------------------------------------

    def applicant_create(self, *, applicant: NewApplicant) -> Applicant:
        body: dict[str, Any] = {"externalUserId": applicant.external_user_id, "type": "individual"}
        if applicant.email:
            body["email"] = applicant.email
        if applicant.phone:
            body["phone"] = applicant.phone
        if applicant.lang:
            body["lang"] = applicant.lang
        if applicant.fixed_info:
            body["fixedInfo"] = applicant.fixed_info
        try:
            data = self.request(
                "POST",
                "/resources/applicants",
                params={"levelName": applicant.level_name},
                json_body=body,
            )
        except SumsubConflict as exc:
            # A retry of a create that succeeded, or a second start: the applicant exists.
            # Fetch it by our own id rather than trusting the id parsed from the text.
            logger.info("sumsub applicant exists", extra={"correlation_id": exc.correlation_id})
            return self.applicant_find(external_user_id=applicant.external_user_id)
        return Applicant.from_json(data)

    def applicant_get(self, *, applicant_id: str) -> Applicant:
        return Applicant.from_json(
            self.request("GET", f"/resources/applicants/{quote(applicant_id, safe='')}/one")
        )

    def applicant_find(self, *, external_user_id: str) -> Applicant:
        encoded = quote(external_user_id, safe="")
        return Applicant.from_json(
            self.request("GET", f"/resources/applicants/-;externalUserId={encoded}/one")
        )

    def applicant_status(self, *, applicant_id: str) -> Review:
        return Review.from_json(
            self.request("GET", f"/resources/applicants/{quote(applicant_id, safe='')}/status")
        )

    def access_token_sdk(
        self, *, external_user_id: str, level_name: str, ttl_seconds: int = 600
    ) -> AccessToken:
        data = self.request(
            "POST",
            "/resources/accessTokens/sdk",
            json_body={
                "userId": external_user_id,
                "levelName": level_name,
                "ttlInSecs": ttl_seconds,
            },
        )
        return AccessToken(
            token=str(data["token"]),
            user_id=str(data.get("userId") or external_user_id),
            ttl_seconds=ttl_seconds,
        )

    def applicant_reset(self, *, applicant_id: str) -> None:
        self.request("POST", f"/resources/applicants/{quote(applicant_id, safe='')}/reset")

    def applicant_request_check(self, *, applicant_id: str) -> None:
        self.request("POST", f"/resources/applicants/{quote(applicant_id, safe='')}/status/pending")

    def applicant_test_completed(
        self,
        *,
        applicant_id: str,
        review_answer: str,
        reject_labels: Sequence[str] = (),
        reject_type: str | None = None,
        moderation_comment: str | None = None,
        client_comment: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"reviewAnswer": review_answer, "rejectLabels": list(reject_labels)}
        if reject_type:
            body["reviewRejectType"] = reject_type
        if moderation_comment is not None:
            body["moderationComment"] = moderation_comment
        if client_comment is not None:
            body["clientComment"] = client_comment
        self.request(
            "POST",
            f"/resources/applicants/{quote(applicant_id, safe='')}/status/testCompleted",
            json_body=body,
        )

    def websdk_link(
        self, *, external_user_id: str, level_name: str, ttl_seconds: int = 600, lang: str = "en"
    ) -> str:
        # The form Sumsub documents today: the level and user travel in a JSON body, the
        # path names no level ("-"). The older form (level in the path, user in the query)
        # is the one the 2024 API description still shows.
        data = self.request(
            "POST",
            "/resources/sdkIntegrations/levels/-/websdkLink",
            params={"lang": lang},
            json_body={
                "levelName": level_name,
                "userId": external_user_id,
                "ttlInSecs": ttl_seconds,
            },
        )
        url = str(data.get("url") or "")
        if not url.startswith("https://") and not is_loopback_url(url):
            raise SumsubUnavailable(200, description="websdkLink answered without an https url")
        return url

    def websdk_url(self, *, token: str) -> str | None:
        if not is_loopback_url(self.base_url):
            return None
        return f"{self.base_url}/websdk/?token={quote(token, safe='')}"


@lru_cache(maxsize=4)
def _cached_client(base_url: str, app_token: str, secret_key: str) -> SumsubClient:
    return SumsubClient(base_url=base_url, app_token=app_token, secret_key=secret_key)


class SumsubNotConfigured(SumsubUnavailable):
    """``SUMSUB_BASE_URL`` is not set: identity checks are unavailable."""


def sumsub_client_from_settings() -> SumsubClient:
    """The client configured by ``SUMSUB_BASE_URL``/``SUMSUB_APP_TOKEN``/``SUMSUB_SECRET_KEY``.

    Raises :class:`SumsubNotConfigured` when ``SUMSUB_BASE_URL`` is empty.
    """
    from django.conf import settings

    if not settings.SUMSUB_BASE_URL:
        raise SumsubNotConfigured(0, description="SUMSUB_BASE_URL is not set")
    return _cached_client(
        settings.SUMSUB_BASE_URL, settings.SUMSUB_APP_TOKEN, settings.SUMSUB_SECRET_KEY
    )
