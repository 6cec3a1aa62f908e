"""Fixtures and helpers of the settlement tests (docs/settlement.md).

``settlement``: the Settlement API simulator (one per test process, reset per test) wired
into the settings, its callbacks sent over real HTTP to a local sink (``CallbackSink``) from
which ``forward_callbacks(client)`` posts them, headers and bytes unchanged, to the
platform's ``/webhooks/settlement`` through Django's test client. ``run_settlement_jobs``
does what the worker would with the queued settlement jobs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lightway.application.settlement import instructions as settlement_instructions
from lightway.application.settlement.config import gateway_cache_clear
from lightway.application.settlement.parties import settlement_parties_seed_demo
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.settlement.models import SettlementWindow
from lightway.integration.settlement.simulator import SettlementSimulator
from tests.factories import customer, funded_wallet
from tests.momo_flow_support import jobs_run

SETTLEMENT_TASKS = ("settlement_instruction_send", "settlement_callback_process")
SECRET = "test-settlement-secret-0123456789abcdef"
CALLBACK_SECRET = "test-settlement-callback-secret-0123456789"


class CallbackSink:
    """A tiny HTTP listener standing in for the platform: keeps every (headers, body)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with sink._cond:
                    sink.received.append((dict(self.headers.items()), body))
                    sink._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/settlement"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def take(self, count: int = 0, timeout: float = 10) -> list[tuple[dict[str, str], bytes]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self.received)} of {count} callbacks arrived")
            taken, self.received = self.received, []
            return taken

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class SettlementHarness:
    sim: SettlementSimulator
    sink: CallbackSink

    def configure(self, **knobs: Any) -> None:
        self.sim.configure(**knobs)

    def forward_callbacks(self, client: Any, count: int = 0, timeout: float = 10) -> list[Any]:
        """Post every callback the simulator sent (waiting for ``count``) to the webhook."""
        responses = []
        for headers, body in self.sink.take(count, timeout):
            extra = {
                f"HTTP_{k.upper().replace('-', '_')}": v
                for k, v in headers.items()
                if k.lower().startswith("x-lwf-")
            }
            responses.append(
                client.post(
                    "/webhooks/settlement", data=body, content_type="application/json", **extra
                )
            )
        return responses


@pytest.fixture(scope="session")
def settlement_simulator():
    sink = CallbackSink()
    sim = SettlementSimulator(
        key_id="lwf-test-key",
        secret=SECRET,
        callback_url=sink.url,
        callback_key_id="lwf-test-callback",
        callback_secret=CALLBACK_SECRET,
    ).start()
    yield sim, sink
    sim.stop()
    sink.stop()


@pytest.fixture
def settlement(settings, settlement_simulator):
    sim, sink = settlement_simulator
    sim.reset()
    sim.configure(confirm_delay_seconds=0.05)
    sink.received.clear()
    settings.SETTLEMENT_BASE_URL = sim.base_url
    settings.SETTLEMENT_KEY_ID = "lwf-test-key"
    settings.SETTLEMENT_SECRET = SECRET
    settings.SETTLEMENT_CALLBACK_KEY_ID = "lwf-test-callback"
    settings.SETTLEMENT_CALLBACK_SECRET = CALLBACK_SECRET
    settings.SETTLEMENT_POLL_SECONDS = 60
    gateway_cache_clear()
    yield SettlementHarness(sim, sink)
    sim.reset()
    gateway_cache_clear()


def parties(now: datetime, *partners: str, currencies: tuple[str, ...] = ("UGX",)) -> None:
    settlement_parties_seed_demo(currencies=currencies, partner_codes=partners, now=now)


def window_with_payment(now: datetime) -> SettlementWindow:
    """The UGX market's open window holding the positions of one customer transfer (the
    default fee schedules, so the payment carries commission for LightWay and MTN)."""
    fee_schedules_seed_defaults(now=now)
    parties(now)
    alice, _ = customer("alice", now)
    bob, _ = customer("bob", now)
    source = funded_wallet(alice, "UGX", 5_000_000, now)
    destination = funded_wallet(bob, "UGX", 0, now)
    transfer_create(
        client_id=alice,
        idempotency_key="k1",
        request=TransferRequest(source.id, destination.id, 200_000, "UGX"),
        now=now,
    )
    return SettlementWindow.objects.get(market="UGX", state="open")


def run_settlement_jobs(now: datetime, *, rounds: int = 10) -> list[tuple[str, str]]:
    """Run the queued settlement jobs as the worker would (at ``now``)."""
    return jobs_run(
        {
            "settlement_instruction_send": lambda a: settlement_instructions.instruction_send(
                instruction_id=a["instruction_id"], now=now
            ),
            "settlement_callback_process": lambda a: (
                settlement_instructions.settlement_callback_process(
                    callback_id=a["callback_id"], now=now
                )
            ),
        },
        rounds=rounds,
    )
