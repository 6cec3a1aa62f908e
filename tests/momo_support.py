"""The ``momo`` test harness (fixture in conftest.py): the MoMo simulator wired into settings.

``momo.sim`` is the running :class:`MomoSimulator` (reset per test, one API user provisioned
for callback host 127.0.0.1, callbacks kept in a queue); ``momo.deliver_callbacks(client)``
hands the queued callbacks to ``/webhooks/momo/<reference>`` through Django's test client
with MoMo's method and body, as MTN would.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from lightway.integration.momo.simulator import MomoSimulator, SimCallback

CALLBACK_URL = "http://127.0.0.1/webhooks/momo"
SUBSCRIPTION_SETTINGS = {
    "collection": "MOMO_SUBSCRIPTION_KEY_COLLECTION",
    "disbursement": "MOMO_SUBSCRIPTION_KEY_DISBURSEMENT",
    "remittance": "MOMO_SUBSCRIPTION_KEY_REMITTANCE",
}


class MomoHarness:
    def __init__(self, sim: MomoSimulator, settings: Any) -> None:
        self.sim = sim
        self.settings = settings
        sim.reset()
        self.api_user, self.api_key = sim.provision(callback_host="127.0.0.1")
        settings.MOMO_BASE_URL = sim.base_url
        settings.MOMO_API_USER = self.api_user
        settings.MOMO_API_KEY = self.api_key
        for product in SUBSCRIPTION_SETTINGS:
            setattr(settings, f"MOMO_{product.upper()}_API_USER", "")
            setattr(settings, f"MOMO_{product.upper()}_API_KEY", "")
        for product, name in SUBSCRIPTION_SETTINGS.items():
            setattr(settings, name, sim.subscription_keys[product])
        settings.MOMO_CALLBACK_URL = CALLBACK_URL
        sim.configure(callback_mode="queue")
        self.clear_gateway_cache()

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    def configure(self, **knobs: Any) -> None:
        self.sim.configure(**knobs)

    def clear_gateway_cache(self) -> None:
        """Drop the process-wide MoMo client (and its cached tokens)."""
        from lightway.application.momo.gateway import momo_gateway_reset

        momo_gateway_reset()

    def callbacks(self) -> list[SimCallback]:
        return self.sim.callbacks_queued()

    def wait_callbacks(self, count: int, timeout: float = 10) -> list[SimCallback]:
        return self.sim.wait_callbacks(count, timeout=timeout)

    def deliver_callbacks(self, client: Any, *, wait_for: int = 0, timeout: float = 10) -> list:
        """Deliver (and remove) every queued callback through Django's test ``client`` to
        the path of its X-Callback-Url, with MoMo's method and JSON body; returns the
        responses in order. ``wait_for``: first wait until that many callbacks are queued."""
        if wait_for:
            self.sim.wait_callbacks(wait_for, timeout=timeout)
        responses = []
        for callback in self.sim.callbacks_take():
            parts = urlsplit(callback.url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            responses.append(
                client.generic(
                    callback.method, path, data=callback.body, content_type="application/json"
                )
            )
        return responses

    # -- direct HTTP helpers (tests that drive the simulator without the client) ---------

    def token(self, product: str = "collection") -> str:
        credentials = base64.b64encode(f"{self.api_user}:{self.api_key}".encode()).decode()
        response = httpx.post(
            f"{self.sim.base_url}/{product}/token/",
            headers={
                "Ocp-Apim-Subscription-Key": self.sim.subscription_keys[product],
                "Authorization": f"Basic {credentials}",
            },
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def headers(self, product: str = "collection", environment: str = "sandbox") -> dict[str, str]:
        return {
            "Ocp-Apim-Subscription-Key": self.sim.subscription_keys[product],
            "Authorization": f"Bearer {self.token(product)}",
            "X-Target-Environment": environment,
        }

    @staticmethod
    def new_reference() -> str:
        return str(uuid.uuid4())


class CallbackReceiver:
    """A tiny HTTP server standing in for the platform's callback listener: records every
    request (method, path, body) and answers ``statuses`` in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[str, str, bytes]] = []
        self.statuses = list(statuses or [])
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._cond:
                    receiver.received.append((self.command, self.path, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST = do_GET = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, reference_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/momo/{reference_id}"

    def wait(self, count: int, timeout: float = 10) -> list[tuple[str, str, bytes]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self.received)} of {count} callbacks received")
            return list(self.received)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
