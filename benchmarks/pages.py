#!/usr/bin/env python
"""Pages benchmark: server time of every main page on the database you point it at.

Meant for a database loaded with ``lightway seed-volume`` (1,000,000 payments): it signs in
for real as the demo users of each realm (a customer with phone and password; staff and MTN
staff with password and their demo authenticator code), requests each main page K times
through Django's test client (in process: the full middleware, views, templates and
queries; no network), and records the server time of each request. Pages:

- customer (``amara``): home, wallets, MoMo, history and the pages other work adds;
- LightWay staff (the first demo staff user the page lets in): home, customers,
  transactions, MoMo, partners, settlement, reconciliation, commission, FX ...;
- MTN staff (``mtn``): home, MoMo, analytics, reconciliation, commission;
- the API (``GET /api/v1/wallets``, ``/transfers`` with the demo bearer token);
- the Django admin lists on the large tables, with a search for a real reference and a date
  drill-down each where the list has one.

A page that answers 404 (not built in this version) is skipped with a note, so this runs on
any commit. The baseline is ``/healthz`` measured in the same run: each page's ratio is its
median over the baseline's.

Writes ``var/bench/pages.json``: ``p95_ms`` (over every page request), ``transactions``
(rows in ``wallets_transfer``), ``target_p95_ms``, ``baseline`` and ``pages`` (per URL:
``p50_ms``, ``p95_ms``, ``max_ms``, ``queries``, ``bytes``, ``status``, ``user``, ``ratio``),
``skipped``; and prints a table.

Usage: DATABASE_URL=... python benchmarks/pages.py [--repeat 10] [--out var/bench/pages.json]
       [--only /admin/ ...]
(``make bench-pages``; without DATABASE_URL it uses the embedded server, as ``make run``.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, percentile, say

TARGET_P95_MS = 300.0
BASELINE = "/healthz"
CUSTOMER = "amara"
STAFF = ("admin", "ops", "finance", "compliance", "support", "kyc")
MTN = ("mtn", "mtnadmin", "mtnfinance")

CUSTOMER_PAGES = (
    "/app/",
    "/app/wallets/",
    "/app/momo/",
    "/app/history/",
    "/app/transactions/",
    "/app/send/",
    "/app/statements/",
    "/app/inbox/",
    "/app/notifications/",
    "/app/profile/",
    "/app/security/",
)
STAFF_PAGES = (
    "/staff/",
    "/staff/customers/",
    "/staff/transactions/",
    "/staff/momo/",
    "/staff/momo/float/",
    "/staff/momo/analytics/",
    "/staff/partners/",
    "/staff/fx/",
    "/staff/settlement/",
    "/staff/reconciliation/",
    "/staff/commission/",
    "/staff/analytics/",
)
MTN_PAGES = (
    "/mtn/",
    "/mtn/momo/",
    "/mtn/momo/analytics/",
    "/mtn/analytics/",
    "/mtn/reconciliation/",
    "/mtn/commission/",
    "/mtn/settlement/",
)
API_PAGES = ("/api/v1/wallets",)


@dataclass
class PageResult:
    url: str
    user: str
    status: int = 0
    queries: int = 0
    bytes: int = 0
    times_ms: list[float] = field(default_factory=list)

    def figures(self, baseline_p50: float) -> dict[str, Any]:
        lat = sorted(self.times_ms)
        p50 = percentile(lat, 50)
        return {
            "p50_ms": round(p50, 2),
            "p95_ms": round(percentile(lat, 95), 2),
            "max_ms": round(lat[-1], 2) if lat else 0.0,
            "queries": self.queries,
            "bytes": self.bytes,
            "status": self.status,
            "user": self.user,
            "ratio": round(p50 / baseline_p50, 1) if baseline_p50 else None,
        }


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lightway.infrastructure.settings")
    sys.path.insert(0, str(ROOT / "src"))
    from lightway.interfaces.cli import ops

    ops.bootstrap()  # DATABASE_URL, or the embedded server as `make run` uses


# --- signing in, as a person would ----------------------------------------------------------


def customer_client(username: str) -> Any:
    """A client signed in through /app/login/ with the demo customer's phone and password."""
    from django.test import Client

    from lightway.application.demo import DEMO_PASSWORD, IDENTITIES

    country, phone, *_ = IDENTITIES[username]
    client = Client()
    response = client.post(
        "/app/login/", {"country": country, "phone": phone, "password": DEMO_PASSWORD}
    )
    if response.status_code != 302:
        raise RuntimeError(f"customer {username} could not sign in ({response.status_code})")
    return client


def staff_client(username: str) -> Any:
    """A client signed in through /staff/login/ and the second factor (the demo device)."""
    from django.test import Client
    from django.utils import timezone

    from lightway.application.demo import DEMO_PASSWORD
    from lightway.security.mfa.models import TotpDevice
    from lightway.security.mfa.totp import totp_code

    client = Client()
    response = client.post("/staff/login/", {"username": username, "password": DEMO_PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"staff {username} could not sign in ({response.status_code})")
    device = TotpDevice.objects.get(user__username=username, name="demo", confirmed=True)
    response = client.post("/staff/mfa/", {"code": totp_code(device, now=timezone.now())})
    if response.status_code != 302:
        raise RuntimeError(f"staff {username}: second factor refused ({response.status_code})")
    return client


# --- what is measured ---------------------------------------------------------------------


def admin_pages() -> list[str]:
    """The admin lists on the large tables, each with a search for a real value and, where
    the list has one, a date drill-down (the last day of the history)."""
    from django.db import connection

    pages = [
        "/admin/wallets/transfer/",
        "/admin/ledger/journalentry/",
        "/admin/ledger/journalentry/?kind=p2p",
        "/admin/ledger/account/",
        "/admin/ledger/hold/",
        "/admin/wallets/wallet/",
        "/admin/commission/commissionrecord/",
        "/admin/commission/feeschedule/",
        "/admin/audit/auditrecord/",
        "/admin/procrastinate/procrastinatejob/",
        "/admin/auth/user/",
    ]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id::text, idempotency_key, client_id, created_at FROM wallets_transfer"
            " WHERE status = 'succeeded' ORDER BY created_at DESC LIMIT 1"
        )
        row = cur.fetchone()
        cur.execute("SELECT reference FROM ledger_hold ORDER BY id DESC LIMIT 1")
        hold = cur.fetchone()
        cur.execute("SELECT code FROM ledger_account WHERE kind = 'wallet' ORDER BY id LIMIT 1")
        account = cur.fetchone()
    if row is not None:
        transfer_id, key, client_id, at = row
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        since = urlencode(
            {
                "created_at__gte": start.isoformat(),
                "created_at__lt": (start + timedelta(days=1)).isoformat(),
            }
        )
        pages += [
            f"/admin/wallets/transfer/?q={transfer_id}",
            f"/admin/wallets/transfer/?q={key}",
            f"/admin/wallets/transfer/?{since}",
            f"/admin/ledger/journalentry/?q={transfer_id}",
            f"/admin/commission/commissionrecord/?q={transfer_id}",
            f"/admin/commission/commissionrecord/?{since}",
            f"/admin/audit/auditrecord/?q={transfer_id}",
            f"/admin/audit/auditrecord/?q=user:{client_id}",
        ]
    if hold is not None:
        pages.append(f"/admin/ledger/hold/?q={hold[0]}")
    if account is not None:
        pages.append(f"/admin/ledger/account/?q={account[0]}")
    pages.append("/admin/commission/feeschedule/?q=Uganda")
    return pages


def _measure(client: Any, url: str, repeat: int, headers: dict[str, str]) -> PageResult | None:
    """None when the page does not exist (404); otherwise its figures, or its status when
    it answers neither 200 nor 404 (the caller tries another user)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        first = client.get(url, **headers)  # warm-up; counts its queries
    result = PageResult(url=url, user="", status=first.status_code)
    if first.status_code == 404:
        return None
    if first.status_code != 200:
        return result
    result.queries = len(captured.captured_queries)
    result.bytes = len(first.content)
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, **headers)
        result.times_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code} after 200")
    return result


def _realm(
    urls: Iterable[str],
    users: Iterable[str],
    sign_in: Callable[[str], Any],
    repeat: int,
    results: dict[str, PageResult],
    skipped: dict[str, str],
    progress: Callable[[str], None],
    clients: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    """Measure ``urls`` as the first of ``users`` each lets in; ``clients`` keeps each
    user's signed-in client across realms (a second factor code is accepted once)."""
    for url in urls:
        refused: list[str] = []
        for user in users:
            if user not in clients:
                clients[user] = sign_in(user)
            measured = _measure(clients[user], url, repeat, headers or {})
            if measured is None:
                skipped[url] = "404: not built in this version"
                break
            if measured.status == 200:
                measured.user = user
                results[url] = measured
                progress(f"  {url}: p50 {percentile(sorted(measured.times_ms), 50):.1f} ms")
                break
            refused.append(f"{user} {measured.status}")
        else:
            skipped[url] = "no demo user may open it (" + ", ".join(refused) + ")"


def run(
    *, repeat: int = 10, only: tuple[str, ...] = (), progress: Callable[[str], None] = say
) -> dict[str, Any]:
    """Measure every page (module docstring), or those whose URL starts with one of
    ``only``; return the figures ``pages.json`` holds."""
    from django.db import connection
    from django.test import Client

    from lightway.application.demo import CUSTOMERS

    results: dict[str, PageResult] = {}
    skipped: dict[str, str] = {}
    base = _measure(Client(), BASELINE, max(repeat, 20), {})
    assert base is not None and base.status == 200, f"{BASELINE} must answer 200"
    baseline_p50 = percentile(sorted(base.times_ms), 50)
    progress(f"baseline {BASELINE}: p50 {baseline_p50:.2f} ms")
    token = next(t for name, _d, t, _b in CUSTOMERS if name == CUSTOMER)
    staff: dict[str, Any] = {}
    common = (repeat, results, skipped, progress)

    def chosen(urls: Iterable[str]) -> list[str]:
        return [u for u in urls if not only or u.startswith(only)]

    _realm(chosen(CUSTOMER_PAGES), [CUSTOMER], customer_client, *common, {})
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    _realm(chosen(API_PAGES), [CUSTOMER], lambda _user: Client(), *common, {}, headers=bearer)
    _realm(chosen(STAFF_PAGES), STAFF, staff_client, *common, staff)
    _realm(chosen(MTN_PAGES), MTN, staff_client, *common, staff)
    _realm(chosen(admin_pages()), STAFF, staff_client, *common, staff)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM wallets_transfer")
        transactions = int(cur.fetchone()[0])
    every = sorted(t for r in results.values() for t in r.times_ms)
    return {
        "p95_ms": round(percentile(every, 95), 2),
        "target_p95_ms": TARGET_P95_MS,
        "transactions": transactions,
        "repeat": repeat,
        "baseline": {"url": BASELINE, **base.figures(baseline_p50)},
        "pages": {url: r.figures(baseline_p50) for url, r in results.items()},
        "skipped": skipped,
    }


def table(result: dict[str, Any]) -> list[str]:
    lines = [f"{'page':<72} {'p50':>8} {'p95':>8} {'max':>8} {'q':>4} {'x base':>7}"]
    rows = [("baseline " + result["baseline"]["url"], result["baseline"])]
    rows += list(result["pages"].items())
    for url, f in rows:
        over = " <-- over target" if f["p95_ms"] >= result["target_p95_ms"] else ""
        lines.append(
            f"{url[:72]:<72} {f['p50_ms']:>8.1f} {f['p95_ms']:>8.1f} {f['max_ms']:>8.1f}"
            f" {f['queries']:>4} {f['ratio'] or 0:>7.1f}{over}"
        )
    for url, why in result["skipped"].items():
        lines.append(f"{url[:72]:<72} skipped: {why}")
    verdict = "PASS" if result["p95_ms"] < result["target_p95_ms"] else "FAIL"
    lines.append(
        f"p95 over every page: {result['p95_ms']:.1f} ms (target < {result['target_p95_ms']:.0f}"
        f" ms): {verdict}; {result['transactions']:,} transfers in the database"
    )
    return lines


def write_result(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="requests per page (default 10)")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "pages.json"))
    parser.add_argument(
        "--only", action="append", default=[], metavar="PREFIX", help="only these URLs"
    )
    args = parser.parse_args()
    setup_django()
    from django.utils import timezone

    from lightway.application.demo import demo_seed

    demo_seed(now=timezone.now())  # the demo logins (idempotent)
    result = run(repeat=args.repeat, only=tuple(args.only))
    for line in table(result):
        print(line)
    write_result(result, Path(args.out))
    say(f"wrote {args.out}")
    return 0 if result["p95_ms"] < TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
