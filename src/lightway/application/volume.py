"""``volume_seed``: a payment history of realistic size for performance work (docs/performance.md).

``lightway seed-volume`` calls it: N payments (1,000,000 by default) between M new customers
(Ugandan, KYC tier 3, a UGX wallet each), spread over the last ``days`` days, in this mix:

- one funding deposit per customer first (MoMo request-to-pay), of what that customer will
  spend later plus a cushion, so no wallet ever goes below zero;
- then 60 % wallet-to-wallet (P2P) payments, 20 % deposits from MoMo, 12 % withdrawals to
  MoMo, 5 % payouts to other MoMo numbers and 3 % P2P payments refused for want of funds
  (recorded as failed, as the payment skeleton records a refusal).

Every row is what the platform itself writes for such a payment, and passes through every
trigger and constraint (none is switched off): the journal entry and its postings (the
balance trigger updates the wallets, the entry's balance check runs per statement), the
transfer (usage counters and settlement position deltas by trigger), the fee's commission
records (checked against their fee schedule), for a MoMo payment its MoMo request and, when
money goes out, the hold that reserved it (placed, committed, linked to its entry, as
``hold_commit`` does), and one audit record per payment, linked into the hash chain by the
sequencer (``audit_chain_link``). Fees and splits are priced by the platform's own pricing
(``fee_quote`` / ``fee_for``) for each distinct amount, once.

It is set-based: a plan of every payment is drawn in one statement (``generate_series``,
seeded ``random()``), then each batch of payments is written by a handful of
``INSERT ... SELECT`` statements in one transaction. ``lightway ledger verify`` and
``lightway audit verify`` pass afterwards (tests/test_seed_volume.py).

It refuses to run under production settings, and refuses a second run unless ``force``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from lightway.application.errors import ValidationFailed
from lightway.application.identity.profiles import profile_create
from lightway.application.momo.common import PARTY_CONTEXT, fee_for
from lightway.application.momo.gateway import momo_environments
from lightway.application.payments.skeleton import FUNDS_MESSAGE
from lightway.application.transactions.commission import FeeQuote, fee_quote
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.application.transactions.wallets import wallet_open
from lightway.data.audit.services import audit_chain_link, audit_record
from lightway.data.commission.models import FeeSchedule, TransactionKind
from lightway.data.identity.models import KycTier, Profile, Realm
from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.rollups import ADVANCE_BATCH, ledger_checkpoints_advance
from lightway.data.ledger.services import house_account_id
from lightway.data.momo.models import Product
from lightway.data.money import Money
from lightway.security.crypto import encrypt, pii_token
from lightway.security.secret_settings import production_settings

CURRENCY = "UGX"
COUNTRY = "UG"
DEFAULT_PAYMENTS = 1_000_000
DEFAULT_CUSTOMERS = 5_000
DEFAULT_DAYS = 90
BATCH = 5_000
AUDIT_ACTION = "volume.seed"
# pg_advisory_xact_lock key under which a run takes its number ("LWVOLUME").
RUN_LOCK_KEY = 0x4C57564F4C554D45
# Amounts drawn from (UGX, no minor unit): everyday sizes, each priced once.
AMOUNTS = (
    500, 1_000, 2_000, 2_500, 3_000, 5_000, 7_500, 10_000, 12_000, 15_000, 20_000, 25_000,
    30_000, 40_000, 50_000, 60_000, 75_000, 100_000, 150_000, 200_000, 250_000, 400_000,
)  # fmt: skip
# The mix after the funding deposits: (kind, cumulative share).
MIX = (("p2p", 0.60), ("deposit", 0.80), ("withdrawal", 0.92), ("payout", 0.97), ("failed", 1.0))
PRODUCT = {"deposit": Product.COLLECTION, "withdrawal": Product.DISBURSEMENT}

logger = logging.getLogger(__name__)


class VolumeSeedRefused(ValidationFailed):
    """Not run: production settings, a run already made (without ``force``), bad sizes."""


@dataclass(frozen=True)
class VolumeSeedResult:
    run: int
    customers: int
    payments: int
    transfers_total: int
    seconds: float


Progress = Callable[..., None]


def volume_seed(
    *,
    payments: int = DEFAULT_PAYMENTS,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = 1,
    days: int = DEFAULT_DAYS,
    force: bool = False,
    now: datetime,
    progress: Progress | None = None,
    batch: int = BATCH,
    checkpoint_batch: int = ADVANCE_BATCH,
) -> VolumeSeedResult:
    """Write ``payments`` payments between ``customers`` new customers (module docstring).

    ``seed`` makes the plan repeatable (amounts, kinds, who pays whom, when). ``progress``
    is called as ``progress(done, total, message)``. Must not run inside a transaction (each
    batch commits on its own, and the audit sequencer opens its own)."""
    step = progress or (lambda *_args: None)
    if production_settings():
        raise VolumeSeedRefused(
            "seed-volume writes made-up payments and refuses to run under production settings"
            " (LIGHTWAY_DEBUG off with personal-data keys configured)"
        )
    if customers < 2:
        raise VolumeSeedRefused("seed-volume needs at least 2 customers (they pay each other)")
    if payments < customers:
        raise VolumeSeedRefused(
            f"{payments} payments cannot fund {customers} customers: each gets a funding"
            " deposit first, so --payments must be at least --customers"
        )
    if connection.in_atomic_block:
        raise RuntimeError("volume_seed commits batch by batch: call it outside atomic()")
    runs = _runs_made()
    if runs and not force:
        raise VolumeSeedRefused(
            f"seed-volume has already run {runs} time(s) on this database (maybe not to the"
            " end); pass --force to add another run of customers and payments"
        )
    started = time.monotonic()
    fee_schedules_seed_defaults(now=now)
    start = _window_start(now, days)
    end = now - timedelta(minutes=1)
    _partitions_for_window(start, now)
    step(0, payments, "customers")
    run, people = _customers_create(count=customers, total=payments, now=now, progress=step)
    params = _plan_draw(
        run=run,
        people=people,
        payments=payments,
        seed=seed,
        start=start,
        end=end,
        now=now,
    )
    done = 0
    # The funding deposits in batches of their own: every later batch starts with each
    # payer holding at least what they will still spend, holds included.
    ranges = [
        *((a, min(customers, a + batch - 1)) for a in range(1, customers + 1, batch)),
        *((a, min(payments, a + batch - 1)) for a in range(customers + 1, payments + 1, batch)),
    ]
    with connection.cursor() as cur:
        # The triggers' queries run once per row: a plan that starts parallel workers (which
        # the planner picks for a lookup by entry on a large table with stale statistics)
        # costs milliseconds per row. This session only.
        cur.execute("SET max_parallel_workers_per_gather = 0")
    analysed_at = 0
    for first, last in ranges:
        with transaction.atomic():
            _batch_write({**params, "first": first, "last": last})
        audit_chain_link(batch=10_000)
        done = last
        if done >= max(2 * analysed_at, customers, 20_000):
            _analyze()  # statistics that follow the growth (autovacuum may be off)
            analysed_at = done
        step(done, payments, "payments")
    with transaction.atomic():
        audit_record(
            actor="system",
            action=AUDIT_ACTION,
            object_type="volume_seed",
            object_id=str(run),
            data={"payments": payments, "customers": customers, "seed": seed, "days": days},
            now=now,
        )
    audit_chain_link(batch=10_000)
    # Roll every balance up to the last posting, as the worker's job (every 10 s) keeps a
    # running platform: one call rolls up at most batch x max_batches postings, so loop
    # until a call comes back with nothing (a million payments write ~8 million postings;
    # a single call left house accounts summing a tail of 600,000 on each page load).
    rolled = 0
    while True:
        advanced = ledger_checkpoints_advance(every=1000, wait_seconds=5, batch=checkpoint_batch)
        rolled += advanced.postings
        step(done, payments, f"balance checkpoints ({rolled:,} postings rolled up)")
        if not advanced.waited or advanced.postings == 0:
            break
    _analyze()
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS vol_plan, vol_customer, vol_price")
        cur.execute("SELECT count(*) FROM wallets_transfer")
        total = int(cur.fetchone()[0])
    return VolumeSeedResult(
        run=run,
        customers=customers,
        payments=payments,
        transfers_total=total,
        seconds=time.monotonic() - started,
    )


def _runs_made() -> int:
    """Runs begun on this database (finished or not): each made the user ``vol<run>-0``."""
    with connection.cursor() as cur:
        cur.execute(
            r"SELECT count(*) FROM auth_user WHERE username ~ '^vol[0-9]+-0$'",
        )
        return int(cur.fetchone()[0])


def _partitions_for_window(start: datetime, now: datetime) -> None:
    """The window's months get their partitions first, or their rows would land in the
    default partition of the partitioned tables, where no month can be archived. A month
    whose rows already sit in a default partition (an earlier run) cannot get one: noted."""
    from lightway.application.archive.service import partitions_ensure

    months = (now.year - start.year) * 12 + now.month - start.month
    try:
        partitions_ensure(now=start, months_ahead=months)
    except DatabaseError as exc:
        logger.warning("seed-volume: months left without partitions", extra={"error": str(exc)})


def _window_start(now: datetime, days: int) -> datetime:
    """``days`` before ``now``, but not before the UGX schedules the mix is priced with
    started (a commission record must fall in its schedule's period)."""
    start = now - timedelta(days=days)
    latest = (
        FeeSchedule.objects.filter(
            currency=CURRENCY,
            transaction_kind__in=[TransactionKind.P2P, TransactionKind.WITHDRAWAL],
            effective_from__lte=now,
        )
        .order_by("-effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    if latest is not None and latest + timedelta(minutes=1) > start:
        start = latest + timedelta(minutes=1)
    return start


def _phone(run: int, i: int) -> str:
    """A Ugandan number of the reserved-for-tests style range, unique per run and customer."""
    return f"+25670{run % 10}{i:06d}"


@dataclass(frozen=True)
class _Customer:
    user_id: int
    wallet_id: str
    account_id: int
    party_ct: bytes
    party_token: str


def _customers_create(
    *, count: int, total: int, now: datetime, progress: Progress
) -> tuple[int, list[_Customer]]:
    """(run, customers): the number of this run, and ``count`` verified customers (KYC tier
    3), each with a UGX wallet (opened by the platform's ``wallet_open``, audited) and an
    encrypted phone number (blind index). The run's number is taken under a lock with its
    first customers, so runs started together get different numbers."""
    users = get_user_model()
    out: list[_Customer] = []
    run = 0
    for first in range(0, count, 500):
        chunk = range(first, min(count, first + 500))
        with transaction.atomic():
            if not run:
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK_KEY])
                run = _runs_made() + 1
            made = users.objects.bulk_create(
                [users(username=f"vol{run}-{i}", password="!") for i in chunk]
            )
            made.sort(key=lambda u: u.pk)
            for i, user in zip(chunk, made, strict=True):
                phone = _phone(run, i)
                profile_create(
                    user_id=user.pk, realm=Realm.CUSTOMER, now=now, country=COUNTRY, phone=phone
                )
                wallet = wallet_open(owner_id=user.pk, currency_code=CURRENCY, now=now)
                msisdn = phone.lstrip("+")
                out.append(
                    _Customer(
                        user_id=user.pk,
                        wallet_id=str(wallet.id),
                        account_id=wallet.account_id,
                        party_ct=encrypt(msisdn, context=PARTY_CONTEXT),
                        party_token=pii_token("msisdn", msisdn),
                    )
                )
            Profile.objects.filter(user_id__in=[u.pk for u in made]).update(
                kyc_tier=KycTier.SUMSUB_VERIFIED,
                phone_verified_at=now,
                terms_version="volume",
                terms_accepted_at=now,
            )
        progress(0, total, f"customers {len(out)}/{count}")
    return run, out


def _quote(kind: str, amount: int, now: datetime) -> tuple[str, FeeQuote]:
    money = Money.of(amount, CURRENCY)
    if kind == "p2p":
        return TransactionKind.P2P, fee_quote(kind=TransactionKind.P2P, amount=money, now=now)
    return fee_for(kind, money, now)


def _prices(now: datetime) -> list[tuple[Any, ...]]:
    """(kind, index, amount, fee, schedule, commission kind, lightway share, mtn share) of
    every amount the plan draws from, priced once by the platform's own pricing."""
    rows: list[tuple[Any, ...]] = []
    for kind in ("p2p", "deposit", "withdrawal", "payout"):
        for index, amount in enumerate(AMOUNTS):
            commission_kind, quote = _quote(kind, amount, now)
            shares = {s.party: s.amount for s in quote.splits}
            if set(shares) - {"lightway", "mtn"}:
                raise VolumeSeedRefused(f"the {kind} schedule pays a party the seed cannot book")
            rows.append(
                (
                    kind,
                    index,
                    amount,
                    quote.fee.amount,
                    quote.schedule_id,
                    commission_kind,
                    shares.get("lightway", 0),
                    shares.get("mtn", 0),
                )
            )
    return rows


def _plan_draw(
    *,
    run: int,
    people: list[_Customer],
    payments: int,
    seed: int,
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The temp tables: customers, prices and one row per payment (ids drawn up front);
    returns the parameters the batches are written with."""

    accounts = {
        "fee_revenue": house_account_id(kind=AccountKind.FEE_REVENUE, currency=CURRENCY, now=now),
        "mtn": house_account_id(
            kind=AccountKind.COMMISSION_PAYABLE, currency=CURRENCY, owner_ref="mtn", now=now
        ),
        "collection": house_account_id(
            kind=AccountKind.MOMO_FLOAT, currency=CURRENCY, owner_ref=Product.COLLECTION, now=now
        ),
        "disbursement": house_account_id(
            kind=AccountKind.MOMO_FLOAT,
            currency=CURRENCY,
            owner_ref=Product.DISBURSEMENT,
            now=now,
        ),
    }
    base_url = str(getattr(settings, "MOMO_BASE_URL", "") or "").strip().rstrip("/")
    environment = momo_environments().get(CURRENCY, "sandbox")
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS vol_plan, vol_customer, vol_price")
        cur.execute(
            """CREATE TEMP TABLE vol_customer (ord int PRIMARY KEY, user_id int, wallet_id uuid,
                 account_id bigint, party_ct bytea, party_token text)"""
        )
        cur.executemany(
            "INSERT INTO vol_customer VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (i, c.user_id, c.wallet_id, c.account_id, c.party_ct, c.party_token)
                for i, c in enumerate(people)
            ],
        )
        cur.execute(
            """CREATE TEMP TABLE vol_price (kind text, idx int, amount bigint, fee bigint,
                 schedule_id bigint, commission_kind text, lw bigint, mtn bigint,
                 PRIMARY KEY (kind, idx))"""
        )
        cur.executemany(
            "INSERT INTO vol_price VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", _prices(now)
        )
        cur.execute("SELECT setseed(%s)", [((seed * 7919) % 20_000) / 10_000 - 1])
        # One row per payment. Funding deposits (n <= customers) come first and earliest;
        # the rest is spread evenly over [start, end], so entry ids follow time.
        cur.execute(
            """CREATE TEMP TABLE vol_plan AS
               WITH drawn AS (
                 SELECT n,
                        CASE WHEN n <= %(m)s THEN 'fund' ELSE
                          CASE WHEN r < 0.60 THEN 'p2p' WHEN r < 0.80 THEN 'deposit'
                               WHEN r < 0.92 THEN 'withdrawal' WHEN r < 0.97 THEN 'payout'
                               ELSE 'failed' END END AS plan,
                        CASE WHEN n <= %(m)s THEN n - 1
                             ELSE floor(random() * %(m)s)::int END AS payer,
                        floor(random() * (%(m)s - 1))::int AS other,
                        floor(random() * %(amounts)s)::int AS idx,
                        CASE WHEN n <= %(m)s
                             THEN %(start)s::timestamptz - interval '1 second' * (%(m)s - n + 1)
                             ELSE %(start)s::timestamptz + (%(end)s::timestamptz
                                  - %(start)s::timestamptz) * ((n - %(m)s)::float8
                                  / GREATEST(%(n)s - %(m)s, 1)) END AS at
                 FROM (SELECT n, random() AS r FROM generate_series(1, %(n)s) AS n) g
               )
               SELECT d.n, d.plan, d.at,
                      CASE d.plan WHEN 'fund' THEN 'deposit' WHEN 'failed' THEN 'p2p'
                           ELSE d.plan END AS kind,
                      CASE WHEN d.plan = 'failed' THEN 'failed' ELSE 'succeeded' END AS status,
                      p.user_id AS client_id, p.wallet_id AS payer_wallet,
                      p.account_id AS payer_account,
                      CASE WHEN d.plan = 'payout' THEN q.party_ct ELSE p.party_ct END
                        AS party_ct,
                      CASE WHEN d.plan = 'payout' THEN q.party_token ELSE p.party_token END
                        AS party_token,
                      q.wallet_id AS payee_wallet, q.account_id AS payee_account,
                      pr.amount, pr.fee, pr.schedule_id, pr.commission_kind, pr.lw, pr.mtn,
                      gen_random_uuid() AS transfer_id, gen_random_uuid() AS momo_ref,
                      CASE WHEN d.plan = 'failed' THEN NULL ELSE
                        nextval(pg_get_serial_sequence('ledger_journal_entry', 'id')) END
                        AS entry_id,
                      CASE WHEN d.plan IN ('withdrawal', 'payout') THEN
                        nextval(pg_get_serial_sequence('ledger_hold', 'id')) END AS hold_id
               FROM drawn d
               JOIN vol_customer p ON p.ord = d.payer
               JOIN vol_customer q ON q.ord = (d.payer + 1 + d.other) %% %(m)s
               JOIN vol_price pr ON pr.kind = CASE d.plan WHEN 'fund' THEN 'deposit'
                                                          WHEN 'failed' THEN 'p2p'
                                                          ELSE d.plan END
                                AND pr.idx = d.idx
               ORDER BY d.n""",
            {
                "m": len(people),
                "n": payments,
                "amounts": len(AMOUNTS),
                "start": start,
                "end": end,
            },
        )
        cur.execute("ALTER TABLE vol_plan ADD PRIMARY KEY (n)")
        # Each customer's funding deposit: all they will spend, plus a cushion.
        cur.execute(
            """UPDATE vol_plan f
               SET amount = COALESCE(o.spent, 0) + 50000 + (f.n % 7) * 25000,
                   fee = 0, lw = 0, mtn = 0, schedule_id = NULL
               FROM vol_customer c LEFT JOIN (
                 SELECT client_id, sum(amount + fee) AS spent FROM vol_plan
                 WHERE plan IN ('p2p', 'withdrawal', 'payout') GROUP BY client_id
               ) o ON o.client_id = c.user_id
               WHERE f.plan = 'fund' AND c.user_id = f.client_id"""
        )
        cur.execute("ANALYZE vol_plan")
    return {
        **accounts,
        "base_url": base_url,
        "environment": environment,
        "run": str(run),
        "funds": FUNDS_MESSAGE,
    }


def _batch_write(p: dict[str, Any]) -> None:
    """Payments ``p["first"]``..``p["last"]`` of the plan, in the order the platform
    writes them."""
    with connection.cursor() as cur:
        # 1. the holds of money going out (placed, then committed: hold_commit's order)
        cur.execute(
            """INSERT INTO ledger_hold (id, account_id, amount, status, reference,
                 idempotency_key, created_at, expires_at)
               SELECT hold_id, payer_account, amount + fee, 'active', transfer_id::text,
                      'momo-hold:' || transfer_id, at, at + interval '1 day'
               FROM vol_plan WHERE n BETWEEN %(first)s AND %(last)s AND hold_id IS NOT NULL
               ORDER BY n""",
            p,
        )
        cur.execute(
            """UPDATE ledger_hold h SET status = 'committed', resolved_at = v.at
               FROM vol_plan v WHERE v.n BETWEEN %(first)s AND %(last)s
                 AND h.id = v.hold_id""",
            p,
        )
        # 2. the journal entries and their postings (principal, fee, fee splits)
        cur.execute(
            """CREATE TEMP TABLE vol_leg ON COMMIT DROP AS
               SELECT v.entry_id, l.account_id, l.amount, l.leg, v.at
               FROM vol_plan v CROSS JOIN LATERAL (VALUES
                 (CASE v.kind WHEN 'p2p' THEN v.payer_account
                              WHEN 'deposit' THEN %(collection)s::bigint
                              ELSE v.payer_account END, -v.amount, 'principal'),
                 (CASE v.kind WHEN 'p2p' THEN v.payee_account
                              WHEN 'deposit' THEN v.payer_account
                              ELSE %(disbursement)s::bigint END, v.amount, 'principal'),
                 (v.payer_account, -v.fee, 'fee'),
                 (%(fee_revenue)s::bigint, v.lw, 'fee:lightway'),
                 (%(mtn)s::bigint, v.mtn, 'fee:mtn')
               ) AS l(account_id, amount, leg)
               WHERE v.n BETWEEN %(first)s AND %(last)s AND v.status = 'succeeded'
                 AND l.amount <> 0""",
            p,
        )
        cur.execute(
            """INSERT INTO ledger_journal_entry (id, kind, idempotency_key, reference,
                 description, posting_count, created_at)
               SELECT v.entry_id, v.kind,
                      CASE WHEN v.kind = 'p2p' THEN NULL ELSE 'momo:' || v.momo_ref END,
                      v.transfer_id::text,
                      CASE v.kind WHEN 'p2p' THEN 'volume seed'
                                  WHEN 'deposit' THEN 'MoMo requesttopay'
                                  ELSE 'MoMo transfer' END,
                      c.legs, v.at
               FROM vol_plan v
               JOIN (SELECT entry_id, count(*) AS legs FROM vol_leg GROUP BY entry_id) c
                 ON c.entry_id = v.entry_id
               WHERE v.n BETWEEN %(first)s AND %(last)s AND v.status = 'succeeded'
               ORDER BY v.n""",
            p,
        )
        cur.execute(
            """INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)
               SELECT entry_id, account_id, 'UGX', amount, leg, at FROM vol_leg
               ORDER BY entry_id, account_id, leg"""
        )
        cur.execute(
            """UPDATE ledger_hold h SET entry_id = v.entry_id
               FROM vol_plan v WHERE v.n BETWEEN %(first)s AND %(last)s
                 AND h.id = v.hold_id""",
            p,
        )
        # 3. the transfers (usage counters and settlement deltas by trigger)
        cur.execute(
            """INSERT INTO wallets_transfer (id, kind, status, client_id, idempotency_key,
                 request_hash, source_wallet_id, destination_wallet_id, currency, amount, fee,
                 description, entry_id, reversal_entry_id, failure_code, failure_message,
                 created_at, updated_at)
               SELECT transfer_id, kind, status, client_id,
                      'volume-' || %(run)s || '-' || n,
                      encode(sha256(convert_to(transfer_id::text, 'UTF8')), 'hex'),
                      CASE WHEN kind = 'deposit' THEN NULL ELSE payer_wallet END,
                      CASE kind WHEN 'p2p' THEN payee_wallet
                                WHEN 'deposit' THEN payer_wallet END,
                      'UGX', amount, fee,
                      CASE WHEN kind = 'p2p' THEN 'volume seed' ELSE '' END,
                      entry_id, NULL,
                      CASE WHEN status = 'failed' THEN 'insufficient_funds' ELSE '' END,
                      CASE WHEN status = 'failed' THEN %(funds)s ELSE '' END, at, at
               FROM vol_plan WHERE n BETWEEN %(first)s AND %(last)s ORDER BY n""",
            p,
        )
        # 4. the commission records of the fees
        cur.execute(
            """INSERT INTO commission_record (entry_id, schedule_id, reference,
                 transaction_kind, party, party_ref, currency, amount, created_at)
               SELECT v.entry_id, v.schedule_id, v.transfer_id::text, v.commission_kind,
                      s.party, s.party, 'UGX', s.amount, v.at
               FROM vol_plan v CROSS JOIN LATERAL (VALUES ('lightway', v.lw), ('mtn', v.mtn))
                 AS s(party, amount)
               WHERE v.n BETWEEN %(first)s AND %(last)s AND v.status = 'succeeded'
                 AND s.amount > 0
               ORDER BY v.n, s.party""",
            p,
        )
        # 5. the MoMo requests (completed: successful)
        cur.execute(
            """INSERT INTO momo_request (reference_id, product, operation, transfer_id, hold_id,
                 external_id, target_environment, base_url, currency, amount, party_id_type,
                 party_ct, party_token, payer_message, payee_note, status, needs_review,
                 momo_status, financial_transaction_id, reason_code, reason_message, attempts,
                 polls, callbacks, last_error, next_check_at, deadline_at, created_at,
                 submitted_at, accepted_at, completed_at, updated_at)
               SELECT momo_ref, CASE kind WHEN 'deposit' THEN 'collection' ELSE 'disbursement' END,
                      CASE kind WHEN 'deposit' THEN 'requesttopay' ELSE 'transfer' END,
                      transfer_id, hold_id, transfer_id::text, %(environment)s, %(base_url)s,
                      'UGX', amount, 'MSISDN', party_ct, party_token,
                      CASE kind WHEN 'deposit' THEN 'LightWay wallet deposit' ELSE '' END,
                      CASE kind WHEN 'deposit' THEN 'LightWay deposit' ELSE 'LightWay' END,
                      'successful', false, 'SUCCESSFUL', (1000000000 + n)::text, '', '', 1, 1,
                      1, '', NULL, at + interval '1 hour', at, at, at, at, at
               FROM vol_plan
               WHERE n BETWEEN %(first)s AND %(last)s AND kind <> 'p2p' ORDER BY n""",
            p,
        )
        # 6. one audit record per payment (linked into the chain by the sequencer)
        cur.execute(
            """INSERT INTO audit_record (occurred_at, actor, action, object_type, object_id,
                 data)
               SELECT at, 'user:' || client_id, 'transfer.' || status, 'transfer',
                      transfer_id::text,
                      jsonb_build_object('kind', kind, 'currency', 'UGX', 'amount', amount,
                        'fee', fee, 'entry', entry_id,
                        'failure_code', CASE WHEN status = 'failed'
                                             THEN 'insufficient_funds' ELSE '' END)
               FROM vol_plan WHERE n BETWEEN %(first)s AND %(last)s ORDER BY n""",
            p,
        )


def _analyze() -> None:
    """Fresh planner statistics for what was loaded (as autovacuum would leave them). The
    runtime role owns no table: PostgreSQL then skips each with a warning, and the owner's
    autovacuum keeps them."""
    with connection.cursor() as cur:
        for table in (
            "ledger_account",
            "ledger_journal_entry",
            "ledger_posting",
            "ledger_hold",
            "wallets_transfer",
            "commission_record",
            "momo_request",
            "audit_record",
            "settlement_position_delta",
            "wallets_usage_counter",
        ):
            cur.execute(f"ANALYZE {table}")
