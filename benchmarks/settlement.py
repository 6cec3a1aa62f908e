#!/usr/bin/env python
"""Settlement benchmark: close a window over 1,000,000 payments, then again after ten
earlier windows exist (docs/settlement.md, "Performance").

In a fresh database ``lightway_bench_settlement`` on the same PostgreSQL server:

1. house accounts (MTN's MoMo floats and commission payable, partner prefunds and
   commission payable) and the counterparties' bank accounts;
2. window A: the position effects of N payments (default 1,000,000), one delta each (a
   MoMo deposit, withdrawal, payout or remittance principal, or a commission share),
   generated set-based through the same mechanism the payment trigger uses: the market's
   open window from ``settlement_window_for`` (shared advisory lock, READ COMMITTED), one
   ``INSERT ... SELECT`` into ``settlement_position_delta`` under the same statement
   trigger that refuses any delta outside the open window; then ``window_close`` is timed
   (the close transaction, positions summed, instructions made with their validated
   pain.001, the window moved to pending settlement), after a VACUUM ANALYZE of the deltas
   (what autovacuum has done by a real cut-off, see ``settle_table``): ``seconds``;
3. windows 2..10 with the same number of payments each (``--earlier-size`` to change),
   closed one after the other, so that ten earlier windows exist;
4. window B, the same size as A, closed and timed again the same way:
   ``seconds_after_ten_windows``.
   A close reads only its own window's rows (an index on the window id), so it must not
   grow with history: ``ratio`` = B / A, ~1.

Prints the figures and writes ``var/bench/settlement.json`` with ``transactions``,
``seconds`` (target < 10 s), ``seconds_after_ten_windows``, ``ratio``, ``history_deltas``,
``insert_seconds`` and ``instructions``.

Usage: python benchmarks/settlement.py [--transactions 1000000] [--earlier-windows 10]
       [--earlier-size N] [--database lightway_bench_settlement]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, say

MARKET = "UGX"
PARTNERS = ("acme", "beta", "gamma")
TARGET_SECONDS = 10.0

# Payment i's effect, one delta per payment, a mix like the platform's: principals on the
# MoMo floats (collection -, disbursement and remittance +), MTN's commission share, and
# partners' prefunds (funded) and commission shares. The window id comes from the same
# function the payment trigger calls; entry ids are synthetic (no ledger rows are made).
_GENERATE = """
WITH w AS (SELECT settlement_window_for(%(market)s, now()) AS id)
INSERT INTO settlement_position_delta
  (window_id, counterparty, account_id, currency, amount, entry_id, transfer_id,
   carried_from, created_at)
SELECT w.id,
       CASE WHEN i %% 10 < 8 THEN 'mtn' ELSE 'partner:' || (%(partners)s::text[])[1 + i %% 3] END,
       CASE i %% 10
         WHEN 0 THEN %(collection)s WHEN 1 THEN %(collection)s WHEN 2 THEN %(disbursement)s
         WHEN 3 THEN %(disbursement)s WHEN 4 THEN %(remittance)s WHEN 5 THEN %(mtn)s
         WHEN 6 THEN %(mtn)s WHEN 7 THEN %(remittance)s
         WHEN 8 THEN (%(prefunds)s::bigint[])[1 + i %% 3]
         ELSE (%(payables)s::bigint[])[1 + i %% 3] END,
       %(market)s,
       CASE i %% 10 WHEN 0 THEN -(1000 + i %% 50000) WHEN 1 THEN -(1000 + i %% 50000)
                    WHEN 8 THEN -(1000 + i %% 50000) WHEN 5 THEN 1 + i %% 300
                    WHEN 6 THEN 1 + i %% 300 WHEN 9 THEN 1 + i %% 200
                    ELSE 1000 + i %% 50000 END,
       %(offset)s + i, NULL, NULL, now()
FROM w, generate_series(1, %(count)s) AS i
"""


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lightway.infrastructure.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def accounts() -> dict[str, Any]:
    """The house and partner accounts the deltas name (created once), and bank accounts."""
    from django.utils import timezone

    from lightway.application.partners.prefund import partner_prefund_account
    from lightway.application.settlement.parties import settlement_parties_seed_demo
    from lightway.data.identity.models import Partner
    from lightway.data.ledger.models import AccountKind
    from lightway.data.ledger.services import house_account

    now = timezone.now()
    for code in PARTNERS:
        Partner.objects.get_or_create(code=code, defaults={"name": code, "created_at": now})
    settlement_parties_seed_demo(currencies=(MARKET,), partner_codes=PARTNERS, now=now)

    def house(kind: str, owner: str) -> int:
        return int(house_account(kind=kind, currency=MARKET, owner_ref=owner, now=now).pk)

    return {
        "market": MARKET,
        "partners": list(PARTNERS),
        "collection": house(AccountKind.MOMO_FLOAT, "collection"),
        "disbursement": house(AccountKind.MOMO_FLOAT, "disbursement"),
        "remittance": house(AccountKind.MOMO_FLOAT, "remittance"),
        "mtn": house(AccountKind.COMMISSION_PAYABLE, "mtn"),
        "prefunds": [
            int(partner_prefund_account(partner_code=c, currency_code=MARKET, now=now).pk)
            for c in PARTNERS
        ],
        "payables": [house(AccountKind.COMMISSION_PAYABLE, c) for c in PARTNERS],
    }


def window_fill(ids: dict[str, Any], count: int, offset: int) -> float:
    """Add ``count`` payments' effects to the open window; returns the seconds it took."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(_GENERATE, {**ids, "count": count, "offset": offset})
    return time.perf_counter() - started


def settle_table() -> None:
    """What autovacuum does over a day of payments before a cut-off: the new rows' hint
    bits and visibility set, statistics current. Done before both timed closes, so neither
    pays for (or races autovacuum over) a million rows inserted a moment earlier; the
    untimed earlier windows are closed straight after their bulk load, for comparison."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) settlement_position_delta")


def sum_seconds(window_id: int) -> float:
    """The positions query of a close (read only), best of three."""
    from django.db import connection

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute(
                "SELECT counterparty, account_id, currency, sum(amount), count(*)"
                " FROM settlement_position_delta WHERE window_id = %s"
                " GROUP BY counterparty, account_id, currency",
                [window_id],
            )
            cur.fetchall()
        best = min(best, time.perf_counter() - started)
    return best


def window_close_timed() -> tuple[float, int, int]:
    """Close the market's open window; (seconds, its payments, instructions made)."""
    from django.utils import timezone

    from lightway.application.settlement.windows import window_close

    started = time.perf_counter()
    result = window_close(market=MARKET, now=timezone.now(), actor="bench")
    seconds = time.perf_counter() - started
    return seconds, int(result.window.deltas), len(result.instructions)


def run(
    *, transactions: int, earlier_windows: int = 10, earlier_size: int | None = None
) -> dict[str, Any]:
    """The benchmark on the current database (migrated); returns the figures."""
    from django.db import connection

    from lightway.integration.settlement import iso20022 as iso

    iso.schema(iso.PAIN_001)  # loaded once per process, not inside the first timed close
    ids = accounts()
    earlier_size = transactions if earlier_size is None else earlier_size
    offset = 0
    say(f"window A: {transactions:,} payments ...")
    insert_seconds = window_fill(ids, transactions, offset)
    offset += transactions
    settle_table()
    first, payments, instructions = window_close_timed()
    say(f"  generated in {insert_seconds:.2f} s, closed in {first:.3f} s ({instructions} instr.)")
    assert payments == transactions, (payments, transactions)
    earlier: list[float] = []
    for n in range(1, earlier_windows):
        window_fill(ids, earlier_size, offset)
        offset += earlier_size
        seconds, _, _ = window_close_timed()  # straight after the bulk load (see settle_table)
        earlier.append(round(seconds, 3))
        say(f"  earlier window {n + 1}: {earlier_size:,} payments closed in {seconds:.3f} s")
    say(f"window B: {transactions:,} payments after {earlier_windows} earlier windows ...")
    window_fill(ids, transactions, offset)
    settle_table()
    after, payments_b, _ = window_close_timed()
    assert payments_b == transactions, (payments_b, transactions)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM settlement_position_delta")
        history = int(cur.fetchone()[0])
        cur.execute("SELECT min(id), max(id) FROM settlement_window WHERE deltas > 0")
        window_a, window_b = cur.fetchone()
    sum_a, sum_b = sum_seconds(window_a), sum_seconds(window_b)
    return {
        "transactions": transactions,
        "seconds": round(first, 4),
        "seconds_after_ten_windows": round(after, 4),
        "ratio": round(after / first, 3) if first else None,
        "earlier_windows": earlier_windows,
        "earlier_close_seconds_unvacuumed": earlier,
        "history_deltas": history,
        # the close's summing query alone, over window A and window B, now that both exist
        # (best of three each, same cache state): what "must not grow" is about
        "sum_seconds_window_a": round(sum_a, 4),
        "sum_seconds_window_b": round(sum_b, 4),
        "sum_ratio": round(sum_b / sum_a, 3) if sum_a else None,
        "insert_seconds": round(insert_seconds, 3),
        "insert_rate_per_s": round(transactions / insert_seconds) if insert_seconds else None,
        "instructions": instructions,
        "target_seconds": TARGET_SECONDS,
    }


def write_result(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--earlier-windows", type=int, default=10)
    parser.add_argument("--earlier-size", type=int, default=None)
    parser.add_argument("--database", default="lightway_bench_settlement")
    parser.add_argument("--output", default=str(ROOT / "var" / "bench" / "settlement.json"))
    args = parser.parse_args()
    url = bench_database_url(args.database)
    setup_django(url)
    from django.core.management import call_command

    say("migrating the benchmark database ...")
    call_command("migrate", verbosity=0)
    result = run(
        transactions=args.transactions,
        earlier_windows=args.earlier_windows,
        earlier_size=args.earlier_size,
    )
    write_result(result, Path(args.output))
    print(
        f"settlement close: {result['transactions']:,} payments in {result['seconds']:.3f} s"
        f" (target < {TARGET_SECONDS:.0f} s); after {result['earlier_windows']} earlier"
        f" windows ({result['history_deltas']:,} deltas in the table):"
        f" {result['seconds_after_ten_windows']:.3f} s; ratio {result['ratio']}"
    )
    print(
        f"summing one window's deltas: window A {result['sum_seconds_window_a']:.3f} s,"
        f" window B {result['sum_seconds_window_b']:.3f} s; ratio {result['sum_ratio']}"
    )
    print(f"written to {args.output}")
    return 0 if result["seconds"] < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
