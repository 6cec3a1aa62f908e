#!/usr/bin/env python
"""``ledger verify`` on a large synthetic ledger.

In a fresh database ``lightway_bench_verify`` on the same PostgreSQL server it builds, with
``generate_series`` and the triggers off (a bulk load, so it needs a superuser: run it on a
scratch server, never on a real one), a ledger shaped like the real flows' output:

- W customers with a UGX wallet, each funded by an ``opening_balance`` entry from equity;
- P2P transfers (5 postings each: principal out and in, the fee, LightWay's and MTN's
  shares) with their two commission records;
- MoMo deposits (5 postings, a successful request, key ``momo:<reference>``) and
  withdrawals (the same plus a committed hold);
- the settlement position deltas the database keeps for each of them (MoMo floats and
  MTN's commission share, ``docs/settlement.md``);

then sets the wallets' stored balances to the sums of their postings, and times
``ledger_verify`` (the CLI's checks) once, printing each check as it finishes. The
ledger is consistent, so verify must report nothing.

Usage: python benchmarks/ledger_verify.py [--transfers 200000] [--wallets 10000]
       (200,000 transfers make about 1 million postings)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, say


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lightway.infrastructure.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


# One statement each, run with session_replication_role = replica (triggers off: a bulk
# load). %(x)s are the sizes and the ids of the house accounts and the fee schedule.
_BUILD = [
    """CREATE TEMP TABLE bench_w AS
       SELECT i, gen_random_uuid() AS wallet_id FROM generate_series(1, %(wallets)s) i""",
    """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
         is_staff, is_active, date_joined)
       SELECT '!', false, 'bench' || i, '', '', '', false, true, now() FROM bench_w""",
    """INSERT INTO ledger_account (code, kind, currency, owner_ref, allow_negative,
         derived_balance, balance, held, status, created_at)
       SELECT 'wallet:bench:' || i, 'wallet', 'UGX', '', false, false, 0, 0, 'active', now()
       FROM bench_w""",
    """INSERT INTO wallets_wallet (id, currency, created_at, account_id, owner_id)
       SELECT w.wallet_id, 'UGX', now(), a.id, u.id FROM bench_w w
       JOIN ledger_account a ON a.code = 'wallet:bench:' || w.i
       JOIN auth_user u ON u.username = 'bench' || w.i""",
    """ALTER TABLE bench_w ADD COLUMN account_id bigint, ADD COLUMN owner_id integer""",
    """UPDATE bench_w w SET account_id = ww.account_id, owner_id = ww.owner_id
       FROM wallets_wallet ww WHERE ww.id = w.wallet_id""",
    # opening balances
    """CREATE TEMP TABLE bench_o AS
       SELECT w.*, nextval('ledger_journal_entry_id_seq') AS entry_id FROM bench_w w""",
    """INSERT INTO ledger_journal_entry (id, kind, idempotency_key, reference, description,
         posting_count, created_at)
       SELECT entry_id, 'opening_balance', NULL, '', 'bench', 2, now() FROM bench_o""",
    """INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)
       SELECT entry_id, x.account_id, 'UGX', x.amount, '', now() FROM bench_o
       CROSS JOIN LATERAL (VALUES (%(equity)s::bigint, -100000000::bigint),
                                  (bench_o.account_id, 100000000)) x(account_id, amount)""",
    # the transfers: kind by i mod 10 (7 P2P, 2 deposits, 1 withdrawal)
    """CREATE TEMP TABLE bench_t AS
       SELECT i, gen_random_uuid() AS id, gen_random_uuid() AS reference_id,
         CASE WHEN i %% 10 < 7 THEN 'p2p' WHEN i %% 10 < 9 THEN 'deposit' ELSE 'withdrawal' END
           AS kind,
         1 + (i * 7919) %% %(wallets)s AS a, 1 + (i * 7919 + 1 + i %% 97) %% %(wallets)s AS b,
         1000 + i %% 5000 AS amount, 100 AS fee,
         nextval('ledger_journal_entry_id_seq') AS entry_id
       FROM generate_series(1, %(transfers)s) i""",
    """CREATE TEMP TABLE bench_tx AS
       SELECT t.*, s.wallet_id AS src_wallet, s.account_id AS src, s.owner_id AS client,
              d.wallet_id AS dst_wallet, d.account_id AS dst
       FROM bench_t t JOIN bench_w s ON s.i = t.a JOIN bench_w d ON d.i = t.b""",
    """INSERT INTO ledger_journal_entry (id, kind, idempotency_key, reference, description,
         posting_count, created_at)
       SELECT entry_id, kind,
              CASE WHEN kind = 'p2p' THEN NULL ELSE 'momo:' || reference_id END,
              id::text, '', 5, now() FROM bench_tx""",
    """INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)
       SELECT t.entry_id, x.account_id, 'UGX', x.amount, x.leg, now() FROM bench_tx t
       CROSS JOIN LATERAL (VALUES
         (CASE t.kind WHEN 'p2p' THEN t.src WHEN 'deposit' THEN %(collection)s ELSE t.src END,
          -t.amount, 'principal'),
         (CASE t.kind WHEN 'p2p' THEN t.dst WHEN 'deposit' THEN t.dst
                      ELSE %(disbursement)s END, t.amount, 'principal'),
         (CASE t.kind WHEN 'deposit' THEN t.dst ELSE t.src END, -t.fee, 'fee'),
         (%(revenue)s, t.fee / 2, 'fee:lightway'),
         (%(mtn)s, t.fee - t.fee / 2, 'fee:mtn')) x(account_id, amount, leg)""",
    """INSERT INTO commission_record (reference, transaction_kind, party, party_ref, currency,
         amount, created_at, entry_id, schedule_id)
       SELECT t.id::text, t.kind, x.party, x.ref, 'UGX', x.amount, now(), t.entry_id,
              %(schedule)s
       FROM bench_tx t CROSS JOIN LATERAL (
         VALUES ('lightway', 'lightway', t.fee / 2), ('mtn', 'mtn', t.fee - t.fee / 2)
       ) x(party, ref, amount)""",
    """INSERT INTO ledger_hold (amount, status, reference, idempotency_key, created_at, expires_at,
         resolved_at, account_id, entry_id)
       SELECT amount + fee, 'committed', id::text, 'momo-hold:' || id, now(),
              now() + interval '30 days', now(), src, entry_id
       FROM bench_tx WHERE kind = 'withdrawal'""",
    """INSERT INTO wallets_transfer (id, kind, status, idempotency_key, request_hash, currency,
         amount, fee, description, failure_code, failure_message, created_at, updated_at,
         client_id, entry_id, destination_wallet_id, source_wallet_id)
       SELECT id, kind, 'succeeded', 'bench-' || i, '', 'UGX', amount, fee, '', '', '', now(),
              now(), client, entry_id,
              CASE WHEN kind = 'withdrawal' THEN NULL ELSE dst_wallet END,
              CASE WHEN kind = 'deposit' THEN NULL ELSE src_wallet END
       FROM bench_tx""",
    """INSERT INTO momo_request (reference_id, product, operation, external_id,
         target_environment, base_url, currency, amount, party_id_type, party_ct, party_token,
         payer_message, payee_note, status, needs_review, momo_status,
         financial_transaction_id, reason_code, reason_message, attempts, polls, callbacks,
         last_error, deadline_at, created_at, completed_at, updated_at, hold_id, transfer_id)
       SELECT t.reference_id,
              CASE t.kind WHEN 'deposit' THEN 'collection' ELSE 'disbursement' END,
              CASE t.kind WHEN 'deposit' THEN 'requesttopay' ELSE 'transfer' END,
              t.id::text, 'sandbox', 'http://momo.invalid', 'UGX', t.amount, 'MSISDN', '\\x00',
              'msisdn_bench', '', '', 'successful', false, 'SUCCESSFUL', 'F' || t.i, '', '',
              1, 1, 0, '', now(), now(), now(), now(), h.id, t.id
       FROM bench_tx t LEFT JOIN ledger_hold h ON h.entry_id = t.entry_id
       WHERE t.kind <> 'p2p'""",
    """UPDATE ledger_account a SET balance = s.total
       FROM (SELECT account_id, sum(amount) AS total FROM ledger_posting GROUP BY account_id) s
       WHERE s.account_id = a.id AND NOT a.derived_balance""",
    # what the settlement trigger adds for each payment: one position delta per (entry,
    # counterparty-facing account), in an open window (docs/settlement.md)
    """INSERT INTO settlement_window (market, state, opened_at, closed_by, aborted_by,
         abort_reason, deltas)
       VALUES ('UGX', 'open', now(), '', '', '', 0) ON CONFLICT DO NOTHING""",
    """INSERT INTO settlement_position_delta (window_id, counterparty, account_id, currency,
         amount, entry_id, transfer_id, carried_from, created_at)
       SELECT (SELECT id FROM settlement_window WHERE market = 'UGX' AND state = 'open'),
              'mtn', p.account_id, 'UGX', sum(p.amount), p.entry_id, t.id, NULL, now()
       FROM bench_tx t JOIN ledger_posting p ON p.entry_id = t.entry_id
       WHERE p.account_id IN (%(mtn)s, %(collection)s, %(disbursement)s)
       GROUP BY p.entry_id, p.account_id, t.id HAVING sum(p.amount) <> 0""",
]


def build(transfers: int, wallets: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
    from lightway.data.commission.models import FeeSchedule
    from lightway.data.ledger.models import AccountKind
    from lightway.data.ledger.services import house_account

    now = timezone.now()
    fee_schedules_seed_defaults(now=now)
    ids = {
        "transfers": transfers,
        "wallets": wallets,
        "equity": house_account(kind=AccountKind.EQUITY, currency="UGX", now=now).pk,
        "revenue": house_account(kind=AccountKind.FEE_REVENUE, currency="UGX", now=now).pk,
        "mtn": house_account(
            kind=AccountKind.COMMISSION_PAYABLE, currency="UGX", owner_ref="mtn", now=now
        ).pk,
        "collection": house_account(
            kind=AccountKind.MOMO_FLOAT, currency="UGX", owner_ref="collection", now=now
        ).pk,
        "disbursement": house_account(
            kind=AccountKind.MOMO_FLOAT, currency="UGX", owner_ref="disbursement", now=now
        ).pk,
        "schedule": FeeSchedule.objects.filter(currency="UGX").values_list("pk", flat=True)[0],
    }
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        for sql in _BUILD:
            started = time.monotonic()
            cur.execute(sql, ids)
            say(f"  {time.monotonic() - started:6.1f} s  {' '.join(sql.split())[:70]}")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=200_000)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="verify the existing database")
    args = parser.parse_args()
    if args.reuse:
        parsed = urlparse(os.environ["DATABASE_URL"])
        url = urlunparse(parsed._replace(path="/lightway_bench_verify"))
    else:
        url = bench_database_url("lightway_bench_verify")
    setup_django(url)
    if not args.reuse:
        from django.core.management import call_command

        say("migrating the benchmark database ...")
        call_command("migrate", verbosity=0)
        say(f"building {args.transfers} transfers over {args.wallets} wallets ...")
        build(args.transfers, args.wallets)
    from django.db import connection

    from lightway.data.ledger.verify import ledger_verify

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM ledger_posting")
        postings = cur.fetchone()[0]
    say(f"verifying {postings} postings ...")
    started = time.monotonic()
    last = [started]

    def progress(step: str) -> None:
        t = time.monotonic()
        say(f"  {t - last[0]:6.2f} s  {step}")
        last[0] = t

    result = ledger_verify(progress=progress)
    elapsed = time.monotonic() - started
    say(f"ledger verify: {elapsed:.1f} s for {postings} postings, ok={result.ok}")
    for problem in result.problems[:20]:
        say(f"  problem: {problem}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
