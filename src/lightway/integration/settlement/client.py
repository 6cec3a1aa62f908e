"""The LightWay Finance Settlement API client (httpx), implementing ``port.SettlementApi``.

Every request is built first and then signed over exactly what goes on the wire
(``signing.request_signature``: timestamp, method, target, raw body), with a fresh
timestamp per attempt. TLS verification stays on, every call has explicit timeouts, and
plain HTTP is refused except to a loopback host (the local simulator).

Retries only where they are safe: a submit is idempotent by its ``InstrId`` (the API
answers the stored status to the same body and 409 to another), and reads change nothing,
so a timeout, a dropped connection or a 5xx is retried a few times with the same body.
Anything else is raised as a typed error at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from lightway.integration.http import is_allowed_base_url
from lightway.integration.settlement.port import (
    InstructionRequest,
    InstructionStatus,
    Notification,
    SettlementConflict,
    SettlementError,
    SettlementNotFound,
    SettlementRefused,
    SettlementUnauthorized,
    SettlementUnavailable,
)
from lightway.integration.settlement.signing import (
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    request_signature,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class InsecureSettlementUrl(ValueError):
    """The base URL is not HTTPS and not a loopback host."""


def _error(response: httpx.Response) -> SettlementError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    status = response.status_code
    kind: type[SettlementError] = SettlementError
    if status >= 500:
        kind = SettlementUnavailable
    elif status == 401:
        kind = SettlementUnauthorized
    elif status == 404:
        kind = SettlementNotFound
    elif status == 409:
        kind = SettlementConflict
    elif status in (400, 422):
        kind = SettlementRefused
    return kind(status, code, message[:300])


class SettlementClient:
    def __init__(
        self,
        *,
        base_url: str,
        key_id: str,
        secret: str,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int = 2,
        backoff_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not is_allowed_base_url(base_url):
            raise InsecureSettlementUrl(
                "SETTLEMENT_BASE_URL must be an https:// URL (plain http only to a loopback"
                f" host), got {base_url!r}"
            )
        if not key_id or not secret:
            raise ValueError("the settlement key id and secret are required")
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self._secret = secret
        self._retries = retries
        self._backoff = backoff_seconds
        self._clock = clock
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, body: Any = None, accept: str = "") -> Any:
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        last: SettlementError | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if accept:
                headers["Accept"] = accept
            request = self._http.build_request(method, path, content=content, headers=headers)
            timestamp = str(int(self._clock()))
            target = request.url.raw_path.decode("ascii")
            request.headers[HEADER_KEY_ID] = self.key_id
            request.headers[HEADER_TIMESTAMP] = timestamp
            request.headers[HEADER_SIGNATURE] = request_signature(
                secret=self._secret,
                timestamp=timestamp,
                method=method,
                target=target,
                body=content,
            )
            try:
                response = self._http.send(request)
            except httpx.HTTPError as exc:
                last = SettlementUnavailable(0, type(exc).__name__, str(exc)[:200])
                logger.info(
                    "settlement API unreachable",
                    extra={"path": path.split("?")[0], "attempt": attempt + 1},
                )
                continue
            if response.status_code < 300:
                return response
            error = _error(response)
            if not isinstance(error, SettlementUnavailable):
                raise error
            last = error
        assert last is not None
        raise last

    # -- the port --------------------------------------------------------------------------

    def instruction_submit(self, request: InstructionRequest) -> InstructionStatus:
        response = self._request("POST", "/v1/instructions", body=request.body())
        return _status(response)

    def instruction_status(self, instr_id: str) -> InstructionStatus:
        response = self._request("GET", f"/v1/instructions/{quote(instr_id, safe='')}")
        return _status(response)

    def notifications(
        self, *, account: str, after: str = "", limit: int = 100
    ) -> tuple[list[Notification], str]:
        query = f"?limit={int(limit)}" + (f"&after={quote(after, safe='')}" if after else "")
        response = self._request(
            "GET", f"/v1/accounts/{quote(account, safe='')}/notifications{query}"
        )
        data = _json(response)
        items = data.get("Ntfctns")
        if not isinstance(items, list):
            raise SettlementError(response.status_code, "bad_response", "Ntfctns missing")
        out = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("Camt054"), str):
                raise SettlementError(response.status_code, "bad_response", "bad notification")
            out.append(Notification(id=str(item.get("Id") or ""), xml=item["Camt054"]))
        return out, str(data.get("Next") or after)

    def statement(self, *, account: str, on: date, version: str = "") -> str:
        query = f"?version={quote(version, safe='')}" if version else ""
        response = self._request(
            "GET",
            f"/v1/accounts/{quote(account, safe='')}/statements/{on.isoformat()}{query}",
            accept="application/xml",
        )
        return str(response.text)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise SettlementError(response.status_code, "bad_response", "not JSON") from None
    if not isinstance(data, dict):
        raise SettlementError(response.status_code, "bad_response", "not a JSON object")
    return data


def _status(response: httpx.Response) -> InstructionStatus:
    try:
        return InstructionStatus.from_json(_json(response))
    except ValueError as exc:
        raise SettlementError(response.status_code, "bad_response", str(exc)) from None
