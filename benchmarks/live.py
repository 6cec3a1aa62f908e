#!/usr/bin/env python
"""Live traffic against the running platform (``make run``), so its dashboards move.

``benchmarks/transfers.py`` measures a server of its own on a throw-away database; nothing
it does reaches the platform you are looking at. This sends real payments to the platform
at ``--base`` (default http://127.0.0.1:8000) through its public API with the demo
customers' tokens (printed by ``make run``): P2P transfers between Amara's and Kofi's UGX
wallets in both directions (small amounts, so balances and daily limits hold for hours)
and, every few payments, a MoMo deposit of Amara's (the MoMo simulator approves the demo
numbers). The staff and MTN home pages, the MoMo pages and the analytics follow them.

``make bench`` runs it for 30 s first (``--if-running``: nothing to do, and exit 0, when no
platform answers), then the transfers benchmark; ``make bench-live`` runs it alone.

Usage: python benchmarks/live.py [--base URL] [--seconds 60] [--rate 5] [--if-running]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import uuid

import httpx

TOKENS = {"amara": "lw_demo_amara_4f9c2e", "kofi": "lw_demo_kofi_7b1d8a"}
CURRENCY = "UGX"
DEPOSIT_EVERY = 5  # one MoMo deposit per this many payments


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _wallet(client: httpx.Client, token: str) -> str:
    response = client.get("/api/v1/wallets", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    body = response.json()
    rows = body.get("wallets", body) if isinstance(body, dict) else body
    for row in rows:
        if row.get("currency") == CURRENCY:
            return str(row["id"])
    raise RuntimeError(f"no {CURRENCY} wallet for this demo customer")


def _post(client: httpx.Client, path: str, token: str, body: dict[str, object]) -> int:
    response = client.post(
        path,
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
    )
    return response.status_code


def run(base: str, seconds: float, rate: float) -> dict[str, int]:
    """Send payments for ``seconds`` at about ``rate`` a second; counts by outcome."""
    counts = {"transfers": 0, "deposits": 0, "refused": 0}
    with httpx.Client(base_url=base, timeout=10) as client:
        wallets = {name: _wallet(client, token) for name, token in TOKENS.items()}
        pairs = itertools.cycle([("amara", "kofi"), ("kofi", "amara")])
        deadline = time.monotonic() + seconds
        for n in itertools.count(1):
            if time.monotonic() >= deadline:
                break
            started = time.monotonic()
            if n % DEPOSIT_EVERY == 0:
                status = _post(
                    client,
                    "/api/v1/momo/deposits",
                    TOKENS["amara"],
                    {"currency": CURRENCY, "amount": 1_000, "message": "live traffic"},
                )
                key = "deposits"
            else:
                payer, payee = next(pairs)
                status = _post(
                    client,
                    "/api/v1/transfers",
                    TOKENS[payer],
                    {
                        "source_wallet_id": wallets[payer],
                        "destination_wallet_id": wallets[payee],
                        "amount": 100 + n % 400,
                        "currency": CURRENCY,
                        "description": "live traffic",
                    },
                )
                key = "transfers"
            counts[key if status in (200, 201, 202) else "refused"] += 1
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=5.0, help="payments a second")
    parser.add_argument(
        "--if-running", action="store_true", help="exit 0 quietly when no platform answers"
    )
    args = parser.parse_args()
    try:
        httpx.get(f"{args.base}/healthz", timeout=2).raise_for_status()
    except httpx.HTTPError:
        if args.if_running:
            say(f"live traffic: no platform at {args.base} (start it with `make run`); skipped")
            return 0
        say(f"live traffic: no platform answers at {args.base}: start it with `make run`")
        return 1
    say(f"live traffic: {args.rate:g} payments/s for {args.seconds:g} s against {args.base}")
    counts = run(args.base, args.seconds, args.rate)
    say(
        f"live traffic: {counts['transfers']} transfers, {counts['deposits']} MoMo deposits,"
        f" {counts['refused']} refused"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
