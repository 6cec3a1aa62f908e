"""``ledger_verify``: the full, set-based check behind ``lightway ledger verify``.

The database refuses bad writes by constraint and trigger. Verify is for what those cannot
see: a superuser with the triggers off (``session_replication_role = replica``, or
``ALTER TABLE ... DISABLE TRIGGER``), a restored or hand-edited database, a bug. It checks:

1. the integrity triggers and constraints: every one in ``REQUIRED_TRIGGERS`` and
   ``REQUIRED_CONSTRAINTS`` is installed, and no trigger on the platform's tables (ours or
   internal foreign-key ones) is disabled or set to fire only for replication; nothing
   makes sessions start with ``session_replication_role`` other than ``origin``;
2. the ledger itself: stored balances and held amounts against postings and holds, entries
   complete and balanced per currency, currencies, overdrafts, customer account policy;
3. every transfer whose money moved (succeeded or reversed) against its entry, posting by
   posting: the entry the transfer's kind must post (``_EXPECTED``: P2P, deposit,
   withdrawal, payout, remittance), one ``fee:<party>`` leg per commission record on the
   party's house account, and for a reversal the exact mirror of the original entry. An
   exchange (two currencies) has two entries: its own (the send currency: the wallet to
   the FX position account) and the receive entry keyed ``fx:<transfer id>`` (the FX
   position account to the other wallet, the spread to FX revenue), checked against the
   FX quote it used (``fx_quote``: amounts, currencies, customer). A cross-currency
   remittance's receive-currency entry (``fx_entry``) is checked against the remittance's
   figures, and a reversed one's ``fx_reversal_entry`` against the mirror of those; a
   REVERSED remittance needs a reversal request approved by a second person. Any posting
   missing, extra, on another account or of another amount is reported;
4. fees and commission records: each record belongs to a transfer's entry, and a
   transfer's records add up to its fee;
5. transfers, holds and MoMo requests agree: failed and open transfers have no entry; a
   committed hold has the entry of its transfer, which debits exactly the held amount; a
   voided or expired hold has none; an active hold belongs to an open transfer; a
   successful MoMo request's transfer succeeded with the entry keyed ``momo:<reference>``,
   a failed one's transfer failed;
6. every journal entry belongs to something (``kinds.py``), opening balances have their
   shape, and only they touch equity accounts;
7. wallets: a wallet's currency is its account's, and its account is a wallet account;
8. settlement (``data/settlement/selectors.py``): every payment since settlement began is
   in the position deltas exactly once; settlement and top-up entries are their records'.

Every check is one SQL statement over whole tables (joins and aggregates, no per-row
lookups), all in one REPEATABLE READ snapshot, so checks never disagree because a payment
landed in between. A new rule is one more entry in ``_CHECKS`` (e.g. usage counters for
limits) with a test that forges the row it catches (``tests/test_ledger_verify.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from lightway.data.commission.selectors import COMMISSION_TRIGGERS, commission_records_check
from lightway.data.ledger.archived import (
    ARCHIVED_MONTHS,
    archived,
    request_of_hold_archived,
    request_of_transfer_archived,
    transfer_archived,
    transfer_of_reference_archived,
)
from lightway.data.ledger.kinds import EQUITY_KINDS, OPENING_BALANCE, REVERSAL, STANDALONE_KINDS
from lightway.data.ledger.rollups import ledger_checkpoints_verify
from lightway.data.settlement.selectors import SETTLEMENT_CHECKS, SETTLEMENT_TRIGGERS
from lightway.data.wallets.selectors import USAGE_CHECKS

# Problems listed per check; further ones are counted.
MAX_PER_CHECK = 20


@dataclass
class LedgerVerifyResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    # check name -> number of offending rows, for every check that found something
    failed: dict[str, int] = field(default_factory=dict)
    # the archived (detached or dropped) months of postings, "YYYY-MM", oldest first: the
    # balances start from their boundary snapshots
    boundary_months: list[str] = field(default_factory=list)
    boundary_accounts: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# Every trigger that carries an integrity rule: verify reports any that is missing. (Any
# trigger on the platform's tables that is disabled is reported, listed here or not.)
REQUIRED_TRIGGERS: tuple[tuple[str, str], ...] = (
    ("ledger_journal_entry", "ledger_entry_append_only"),
    ("ledger_journal_entry", "ledger_entry_no_truncate"),
    ("ledger_journal_entry", "ledger_entry_balanced"),
    ("ledger_posting", "ledger_posting_append_only"),
    ("ledger_posting", "ledger_posting_no_truncate"),
    ("ledger_posting", "ledger_posting_apply"),
    ("ledger_posting", "ledger_posting_balanced"),
    ("ledger_hold", "ledger_hold_apply"),
    ("ledger_hold", "ledger_hold_no_truncate"),
    ("ledger_account", "ledger_account_guard"),
    ("ledger_account", "ledger_account_insert_guard"),
    ("ledger_account", "ledger_account_no_truncate"),
    ("ledger_balance_checkpoint", "ledger_checkpoint_check"),
    ("ledger_balance_checkpoint", "ledger_checkpoint_append_only"),
    ("ledger_balance_checkpoint", "ledger_checkpoint_no_truncate"),
    ("wallets_transfer", "wallets_transfer_transition"),
    ("wallets_transfer", "wallets_transfer_entry_check"),
    ("wallets_transfer", "wallets_transfer_no_truncate"),
    ("wallets_transfer", "wallets_transfer_usage_day"),
    ("wallets_transfer", "wallets_transfer_usage"),
    ("wallets_usage_counter", "wallets_usage_counter_guard"),
    ("wallets_usage_counter", "wallets_usage_counter_no_truncate"),
    ("wallets_inbound_pending", "wallets_inbound_pending_guard"),
    ("wallets_inbound_pending", "wallets_inbound_pending_no_truncate"),
    ("wallets_wallet", "wallets_wallet_guard"),
    ("wallets_wallet", "wallets_wallet_no_truncate"),
    *COMMISSION_TRIGGERS,
    ("audit_record", "audit_record_guard"),
    ("audit_record", "audit_record_no_truncate"),
    ("audit_record", "audit_record_check_link"),
    ("identity_kyc_tier_limit", "identity_kyc_limit_guard"),
    ("kyc_sumsub_webhook_event", "kyc_webhook_event_immutable"),
    ("momo_request", "momo_request_guard"),
    ("momo_request", "momo_request_no_truncate"),
    ("momo_callback", "momo_callback_guard"),
    ("momo_callback", "momo_callback_no_truncate"),
    ("fx_quote", "fx_quote_guard"),
    ("fx_quote", "fx_quote_no_truncate"),
    *SETTLEMENT_TRIGGERS,
    # Partners (lane "hooks"): closed is final, webhook keys and the delivery log, the
    # statement day cuts (identity 0005, partners 0004).
    ("identity_partner", "identity_partner_guard"),
    ("identity_partner", "identity_partner_no_truncate"),
    ("partners_webhook_key", "partners_webhook_key_guard"),
    ("partners_webhook_attempt", "partners_webhook_attempt_append_only"),
    ("partners_webhook_delivery", "partners_webhook_delivery_no_delete"),
    ("partners_statement_cut", "partners_statement_cut_append_only"),
    ("partners_statement_cut", "partners_statement_cut_next"),
    ("remittances_remittance", "remittances_remittance_guard"),
    ("remittances_remittance", "remittances_remittance_no_truncate"),
    ("remittances_quote", "remittances_quote_guard"),
    # Reversals: maker-checker requests (remittances 0004).
    ("remittances_reversal", "remittances_reversal_guard"),
    ("remittances_reversal", "remittances_reversal_no_truncate"),
    ("remittances_reversal", "remittances_reversal_approved"),
    ("remittances_remittance", "remittances_reversed_approved"),
)

# Constraints the checks below rely on (a superuser could drop them): (table, name).
REQUIRED_CONSTRAINTS: tuple[tuple[str, str], ...] = (
    ("ledger_account", "ledger_account_id_currency"),
    ("ledger_account", "ledger_account_no_overdraft"),
    ("ledger_account", "ledger_account_customer_policy"),
    ("ledger_account", "ledger_account_derived_has_no_stored_balance"),
    ("ledger_posting", "ledger_posting_nonzero"),
    ("ledger_hold", "ledger_hold_positive"),
    ("wallets_wallet", "wallets_wallet_account_currency"),
    ("wallets_transfer", "transfer_succeeded_has_entry"),
    ("wallets_transfer", "transfer_reversed_has_reversal_entry"),
    ("commission_record", "commission_rec_amount_pos"),
)

_TRIGGERS_SQL = """
SELECT c.relname, t.tgname, t.tgenabled, t.tgisinternal, COALESCE(k.conname, '')
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
LEFT JOIN pg_constraint k ON k.oid = t.tgconstraint
WHERE c.relnamespace = current_schema()::regnamespace
"""

_CONSTRAINTS_SQL = """
SELECT c.relname, k.conname, k.convalidated FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relnamespace = current_schema()::regnamespace
"""

# Role or database defaults that would start sessions with the triggers off.
_REPLICATION_ROLE_SQL = """
SELECT COALESCE(r.rolname, 'every role'), COALESCE(d.datname, 'every database'), s.setconfig
FROM pg_db_role_setting s
LEFT JOIN pg_roles r ON r.oid = s.setrole
LEFT JOIN pg_database d ON d.oid = s.setdatabase
WHERE array_to_string(s.setconfig, ',') ~ 'session_replication_role'
  -- this database's settings and the cluster-wide ones: another database's own settings
  -- do not reach a session here (and reporting them failed verify whenever a test run in
  -- a neighbouring database had its own triggers' mode switched)
  AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
"""

_MOVED = "('succeeded', 'reversed')"
_OPEN = "('created', 'validated', 'held', 'submitted', 'pending')"
_MOMO_KINDS = "('deposit', 'withdrawal', 'payout', 'remittance')"
# The kinds verify has a rule for (the momo kinds, P2P, the two-currency exchange).
_RULED = "('p2p', 'exchange', 'deposit', 'withdrawal', 'payout', 'remittance')"
# The receive entry of an exchange (application/payments/skeleton.py, RECEIVE_ENTRY_KEY).
_RECEIVE_KEY = "'fx:' || {t}.id::text"
_OUTBOUND = "('withdrawal', 'payout', 'remittance')"


# The postings each kind of transfer must make, as (account, leg, amount) per transfer
# (columns of ``moved`` below); the ``fee:<party>`` legs come from the commission records.
# deposit: MoMo float -> wallet, the fee out of the wallet. withdrawal, payout: the held
# account (the wallet) -> MoMo float, the fee out of it. remittance: the held partner
# prefund -> MoMo float, the fee out of it; a cross-currency remittance (paid in another
# currency than its prefund's) credits the FX position account of the send currency as its
# ``fx`` leg instead, and its receive-currency entry is checked on its own
# (``_REMITTANCE_FX_SQL``). P2P: source -> destination, the fee out of the source.
_EXPECTED = """
CASE m.kind WHEN 'p2p' THEN m.src WHEN 'deposit' THEN m.float_account ELSE m.held END,
  'principal', -m.amount),
(CASE m.kind WHEN 'p2p' THEN m.dst WHEN 'deposit' THEN m.dst ELSE m.float_account END,
  m.credit_leg, m.amount),
(CASE m.kind WHEN 'p2p' THEN m.src WHEN 'deposit' THEN m.dst ELSE m.held END,
  'fee', -m.fee
"""

_RECONCILE_SQL = f"""
WITH moved AS MATERIALIZED (
  SELECT t.id, t.kind, t.amount, t.fee, t.entry_id, t.reversal_entry_id,
         sw.account_id AS src, dw.account_id AS dst, h.account_id AS held,
         CASE WHEN rx.id IS NULL THEN fa.id ELSE fx.id END AS float_account,
         CASE WHEN rx.id IS NULL THEN 'principal' ELSE 'fx' END AS credit_leg,
         re.id AS receive_entry, q.receive_amount, q.spread_amount,
         ps.id AS pos_send, pr.id AS pos_receive, rr.id AS rev_receive
  FROM wallets_transfer t
  LEFT JOIN wallets_wallet sw ON sw.id = t.source_wallet_id
  LEFT JOIN wallets_wallet dw ON dw.id = t.destination_wallet_id
  LEFT JOIN momo_request r ON r.transfer_id = t.id
  LEFT JOIN ledger_hold h ON h.id = r.hold_id
  LEFT JOIN ledger_account fa ON fa.code = 'house:momo_float:' || t.currency || ':' || r.product
  LEFT JOIN fx_quote q ON t.kind = 'exchange' AND q.transfer_id = t.id
  LEFT JOIN ledger_journal_entry re
    ON t.kind = 'exchange' AND re.idempotency_key = {_RECEIVE_KEY.format(t="t")}
  LEFT JOIN ledger_account ps
    ON t.kind = 'exchange' AND ps.code = 'house:fx_position:' || t.currency
  LEFT JOIN ledger_account pr ON pr.code = 'house:fx_position:' || q.receive_currency
  LEFT JOIN ledger_account rr ON rr.code = 'house:fx_revenue:' || q.receive_currency
  LEFT JOIN remittances_remittance rx
    ON rx.transfer_id = t.id AND rx.receive_currency <> rx.send_currency
  LEFT JOIN ledger_account fx ON fx.code = 'house:fx_position:' || t.currency
  WHERE t.status IN {_MOVED}
), expected AS (
  SELECT m.entry_id, COALESCE(x.account_id, 0) AS account_id, x.leg, x.amount
  FROM moved m CROSS JOIN LATERAL (VALUES ({_EXPECTED})) AS x(account_id, leg, amount)
  WHERE m.kind IN ('p2p', {_MOMO_KINDS[1:-1]}) AND x.amount <> 0
  UNION ALL
  -- an exchange's own entry (send currency): the wallet to the FX position account
  SELECT m.entry_id, COALESCE(x.account_id, 0), x.leg, x.amount
  FROM moved m CROSS JOIN LATERAL (VALUES
    (m.src, 'principal', -m.amount), (m.pos_send, 'fx', m.amount), (m.src, 'fee', -m.fee)
  ) AS x(account_id, leg, amount)
  WHERE m.kind = 'exchange' AND x.amount <> 0
  UNION ALL
  -- ... and its receive entry, at its quote's amounts
  SELECT COALESCE(m.receive_entry, 0), COALESCE(x.account_id, 0), x.leg, x.amount
  FROM moved m CROSS JOIN LATERAL (VALUES
    (m.pos_receive, 'fx', -(m.receive_amount + m.spread_amount)),
    (m.dst, 'principal', m.receive_amount),
    (m.rev_receive, 'fx:spread', m.spread_amount)
  ) AS x(account_id, leg, amount)
  WHERE m.kind = 'exchange' AND x.amount <> 0
  UNION ALL
  SELECT c.entry_id, COALESCE(fa.id, 0), 'fee:' || c.party, c.amount
  FROM commission_record c
  JOIN moved m ON m.entry_id = c.entry_id
  LEFT JOIN ledger_account fa ON fa.code = CASE c.party
    WHEN 'lightway' THEN 'house:fee_revenue:' || c.currency
    ELSE 'house:commission_payable:' || c.currency || ':' || c.party_ref END
  UNION ALL
  SELECT m.reversal_entry_id, p.account_id, p.leg, -p.amount
  FROM moved m JOIN ledger_posting p ON p.entry_id = m.entry_id
  WHERE m.reversal_entry_id IS NOT NULL
), got AS (
  SELECT p.entry_id, p.account_id, p.leg, p.amount
  FROM ledger_posting p
  JOIN (SELECT entry_id FROM wallets_transfer WHERE status IN {_MOVED}
        UNION ALL
        SELECT reversal_entry_id FROM wallets_transfer WHERE reversal_entry_id IS NOT NULL
        UNION ALL
        SELECT e.id FROM wallets_transfer t
        JOIN ledger_journal_entry e ON e.idempotency_key = {_RECEIVE_KEY.format(t="t")}
        WHERE t.kind = 'exchange' AND t.status IN {_MOVED}
       ) x ON x.entry_id = p.entry_id
), diff AS (
  SELECT COALESCE(w.entry_id, g.entry_id) AS entry_id,
         COALESCE(w.account_id, g.account_id) AS account_id,
         COALESCE(w.leg, g.leg) AS leg, w.amount AS want, g.amount AS got
  FROM expected w FULL JOIN got g
    ON g.entry_id = w.entry_id AND g.account_id = w.account_id AND g.leg = w.leg
       AND g.amount = w.amount
  WHERE w.entry_id IS NULL OR g.entry_id IS NULL
)
SELECT COALESCE(t.id, r.id, xt.id), COALESCE(t.kind, 'reversal of ' || r.kind, xt.kind),
       d.entry_id, COALESCE(a.code, 'no such account'), d.leg, d.want, d.got
FROM diff d
LEFT JOIN wallets_transfer t ON t.entry_id = d.entry_id
LEFT JOIN wallets_transfer r ON r.reversal_entry_id = d.entry_id
LEFT JOIN ledger_journal_entry de ON de.id = d.entry_id
LEFT JOIN wallets_transfer xt
  ON xt.kind = 'exchange' AND de.idempotency_key = {_RECEIVE_KEY.format(t="xt")}
LEFT JOIN ledger_account a ON a.id = d.account_id
LEFT JOIN ledger_journal_entry te ON te.id = COALESCE(t.entry_id, r.entry_id, xt.entry_id)
WHERE NOT COALESCE({archived("te")}, false)
  -- its MoMo request (which names the float account) is in an archived month
  AND NOT COALESCE({request_of_transfer_archived("COALESCE(t.id, r.id, xt.id)")}, false)
ORDER BY d.entry_id, d.leg
"""
# Each expected posting (entry, account, leg, amount) is matched with an actual one. The
# transfers' checks below also compare the entry's posting count with the number of
# postings its transfer calls for, so with both a duplicated posting cannot hide.


# A cross-currency remittance paid out (its transfer succeeded or was reversed) has a
# receive-currency entry: FX position -(receive + spread) as ``fx``, the MoMo float of its
# product +receive as ``principal``, FX revenue +spread as ``fx:spread`` (when there is one);
# every expected posting is matched with an actual one, as in ``_RECONCILE_SQL``.
#
# A reversed one (REVERSED, its transfer ``reversed``) also has the mirror of that entry,
# ``fx_reversal_entry``: the same accounts and legs, the opposite amounts, computed from the
# remittance's own figures (not copied from the entry it undoes), so a forged FX entry and
# its faithful mirror are both reported.
_REMITTANCE_FX_SQL = f"""
WITH rx AS MATERIALIZED (
  SELECT rm.id, rm.fx_entry_id AS entry_id, rm.fx_reversal_entry_id AS rev_id,
         rm.receive_currency AS ccy, rm.receive_amount AS receive, rm.spread, r.product
  FROM remittances_remittance rm
  JOIN wallets_transfer t ON t.id = rm.transfer_id
  LEFT JOIN momo_request r ON r.transfer_id = t.id
  JOIN ledger_journal_entry te ON te.id = t.entry_id
  WHERE rm.receive_currency <> rm.send_currency AND t.status IN {_MOVED}
    AND NOT COALESCE({archived("te")}, false)
), legs AS (
  SELECT rx.id, rx.entry_id, rx.rev_id, x.code, a.id AS account_id, x.leg, x.amount
  FROM rx CROSS JOIN LATERAL (VALUES
    ('house:fx_position:' || rx.ccy, 'fx', -(rx.receive + rx.spread)),
    ('house:momo_float:' || rx.ccy || ':' || rx.product, 'principal', rx.receive),
    ('house:fx_revenue:' || rx.ccy, 'fx:spread', rx.spread)) AS x(code, leg, amount)
  LEFT JOIN ledger_account a ON a.code = x.code
  WHERE x.amount <> 0
), expected AS (
  SELECT id, entry_id, code, account_id, leg, amount FROM legs
  UNION ALL
  SELECT id, rev_id, code, account_id, leg, -amount FROM legs WHERE rev_id IS NOT NULL
), got AS (
  SELECT rx.id, p.entry_id, a.code, p.account_id, p.leg, p.amount
  FROM rx JOIN ledger_posting p ON p.entry_id IN (rx.entry_id, rx.rev_id)
  JOIN ledger_account a ON a.id = p.account_id
)
SELECT COALESCE(w.id, g.id), COALESCE(w.entry_id, g.entry_id), COALESCE(w.leg, g.leg),
       COALESCE(w.code, g.code), w.amount, g.amount
FROM expected w FULL JOIN got g
  ON g.id = w.id AND g.entry_id = w.entry_id AND g.account_id = w.account_id
     AND g.leg = w.leg AND g.amount = w.amount
WHERE w.id IS NULL OR g.id IS NULL
ORDER BY 1, 2, 3
"""


def _problems(sql: str) -> str:
    """Only the rows of ``sql`` whose ``problem`` column says what is wrong."""
    return f"SELECT * FROM ({sql}) AS c WHERE c.problem IS NOT NULL"


def _reconcile_row(r: tuple[Any, ...]) -> str:
    transfer, kind, entry, account, leg, want, got = r
    where = f"the {leg or 'unnamed'} leg on {account}"
    if got is None:
        return f"transfer {transfer} ({kind}): entry {entry} lacks {where} of {want}"
    return (
        f"transfer {transfer} ({kind}): entry {entry} posts {got} as {where},"
        " which the transfer does not call for"
    )


# Three checks and the count of postings from ONE pass over ``ledger_posting`` (the largest
# table): its sums per account and currency, materialized once, then compared with the
# accounts. Each row's first column says which check it belongs to (``_SUMS_CHECKS``); the
# last row (tag 3) is the number of postings.
#
# While months of postings are archived (detached), an account's sum starts from its
# boundary snapshot (``ledger_posting_boundary``, ledger 0010: the sum of its postings up
# to its last posting of the newest detached month) and adds the attached postings after
# that id; attached postings at or below it (a posting of the next month that drew a lower
# id just before midnight) are inside the snapshot and not counted twice.
_SUMS_SQL = """
WITH b AS MATERIALIZED (
  SELECT account_id, last_posting_id, balance FROM ledger_posting_boundary
), s AS MATERIALIZED (
  SELECT x.account_id, x.currency, sum(x.amount) AS total, sum(x.n) AS n FROM (
    SELECT p.account_id, p.currency, p.amount, 1 AS n
    FROM ledger_posting p LEFT JOIN b ON b.account_id = p.account_id
    WHERE p.id > COALESCE(b.last_posting_id, 0)
    UNION ALL
    SELECT b.account_id, a.currency, b.balance, 0
    FROM b JOIN ledger_account a ON a.id = b.account_id
  ) x GROUP BY x.account_id, x.currency
), per_account AS (
  SELECT account_id, sum(total) AS total FROM s GROUP BY account_id
)
SELECT 0, a.code::text, a.balance::text, COALESCE(p.total, 0)::text, NULL::text
FROM ledger_account a LEFT JOIN per_account p ON p.account_id = a.id
WHERE (NOT a.derived_balance AND a.balance <> COALESCE(p.total, 0))
   OR (NOT a.allow_negative AND COALESCE(p.total, 0) - a.held < 0)
UNION ALL
SELECT 1, s.account_id::text, s.currency::text, a.currency::text, s.n::text
FROM s LEFT JOIN ledger_account a ON a.id = s.account_id
WHERE a.id IS NULL OR s.currency <> a.currency
UNION ALL
SELECT 2, s.currency::text, sum(s.total)::text, NULL, NULL
FROM s GROUP BY s.currency HAVING sum(s.total) <> 0
UNION ALL
SELECT 3, NULL, COALESCE(sum(s.n), 0)::text, NULL, NULL FROM s
"""
_SUMS_CHECKS: tuple[tuple[str, Callable[[tuple[Any, ...]], str]], ...] = (
    (
        "stored balances equal the sum of postings",
        lambda r: (
            f"account {r[0]}: stored balance {r[1]}, postings sum to {r[2]} (or it is overdrawn)"
        ),
    ),
    (
        "postings point at existing accounts of their currency",
        lambda r: (
            f"account {r[0]}: {r[3]} posting(s) in {r[1]}"
            f" ({'which does not exist' if r[2] is None else f'which holds {r[2]}'})"
        ),
    ),
    (
        "all balances of a currency sum to zero",
        lambda r: f"currency {r[0]}: postings sum to {r[1]}, not 0",
    ),
)


# (name, query returning offending rows, how to describe a row)
_CHECKS: tuple[tuple[str, str, Callable[[tuple[Any, ...]], str]], ...] = (
    (
        "held amounts equal the sum of active holds",
        """SELECT a.code, a.held, COALESCE(h.total, 0) FROM ledger_account a
           LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_hold
                      WHERE status = 'active' GROUP BY account_id) h ON h.account_id = a.id
           WHERE a.held <> COALESCE(h.total, 0)""",
        lambda r: f"account {r[0]}: held {r[1]} but active holds sum to {r[2]}",
    ),
    (
        "every entry has its declared postings, in one currency, summing to zero",
        # an entry of a detached month is not checked here (its postings left with the
        # month; restore it and verify again); the part of an entry that a detached month
        # holds when its postings straddle the month's end comes from the snapshot
        f"""SELECT e.id, e.posting_count, COALESCE(p.n, 0) + COALESCE(x.n, 0), p.low, p.high,
                  COALESCE(p.total, 0) + COALESCE(x.total, 0)
           FROM ledger_journal_entry e
           LEFT JOIN (SELECT entry_id, count(*) AS n, min(currency) AS low,
                             max(currency) AS high, sum(amount) AS total
                      FROM ledger_posting GROUP BY entry_id) p ON p.entry_id = e.id
           LEFT JOIN (SELECT se.entry_id, sum(se.postings) AS n, sum(se.amount) AS total
                      FROM ledger_posting_snapshot_entry se
                      WHERE se.month IN {ARCHIVED_MONTHS} GROUP BY se.entry_id) x
             ON x.entry_id = e.id
           WHERE (e.posting_count <> COALESCE(p.n, 0) + COALESCE(x.n, 0) OR p.low <> p.high
                  OR COALESCE(p.total, 0) + COALESCE(x.total, 0) <> 0)
             AND NOT (p.entry_id IS NULL AND x.entry_id IS NULL AND {archived("e")})""",
        lambda r: (
            f"entry {r[0]}: declares {r[1]} postings, has {r[2]}"
            + (f" in {r[3]} and {r[4]}" if r[3] != r[4] else f" in {r[3]} summing to {r[5]}")
        ),
    ),
    (
        "customer accounts keep stored, non-negative balances",
        """SELECT code FROM ledger_account WHERE kind IN ('wallet', 'imto_prefund')
           AND (allow_negative OR derived_balance)""",
        lambda r: f"account {r[0]}: a customer account that may go negative or has no balance",
    ),
    (
        "wallets hold their account's currency",
        """SELECT w.id, w.currency, a.code, a.currency, a.kind FROM wallets_wallet w
           LEFT JOIN ledger_account a ON a.id = w.account_id
           WHERE a.id IS NULL OR a.currency <> w.currency OR a.kind <> 'wallet'""",
        lambda r: f"wallet {r[0]} ({r[1]}): its account {r[2]} is a {r[4]} account in {r[3]}",
    ),
    (
        "transfers whose money moved match their entries, posting by posting",
        _RECONCILE_SQL,
        _reconcile_row,
    ),
    (
        "transfers and their entries agree",
        _problems(f"""SELECT t.id, t.kind, t.status, CASE
             WHEN t.status NOT IN {_MOVED}
                  AND (t.entry_id IS NOT NULL OR t.reversal_entry_id IS NOT NULL)
               THEN 'has an entry but no money moved for it'
             WHEN t.status NOT IN {_MOVED} THEN NULL
             WHEN t.kind NOT IN {_RULED}
               THEN 'is a kind verify has no rule for: nothing may move money as it'
             WHEN e.id IS NULL THEN 'its entry does not exist'
             WHEN e.kind <> t.kind THEN 'its entry is of kind ' || e.kind
             WHEN e.reference <> t.id::text THEN 'its entry was posted for ' || e.reference
             WHEN t.kind = 'exchange' AND t.status = 'reversed'
               THEN 'an exchange is never reversed (a new exchange undoes it)'
             WHEN t.kind = 'exchange' AND q.id IS NULL THEN 'no FX quote was used for it'
             WHEN t.kind = 'exchange' AND (q.customer_id <> t.client_id
                  OR q.send_currency <> t.currency OR q.send_amount <> t.amount
                  OR q.receive_currency IS DISTINCT FROM dw.currency
                  OR sw.owner_id IS DISTINCT FROM t.client_id
                  OR dw.owner_id IS DISTINCT FROM t.client_id)
               THEN 'it does not match its FX quote, or is not between the customer''s own wallets'
             WHEN t.kind = 'exchange' AND re.id IS NULL
               THEN 'its receive entry (fx:<transfer id>) does not exist'
             WHEN t.kind = 'exchange' AND (re.kind <> t.kind OR re.reference <> t.id::text)
               THEN 'its receive entry is of kind ' || re.kind || ', posted for ' || re.reference
             WHEN t.kind = 'exchange' AND re.posting_count <> 2 + (q.spread_amount <> 0)::int
               THEN 'its receive entry has ' || re.posting_count || ' postings, it calls for '
                    || 2 + (q.spread_amount <> 0)::int
             WHEN e.posting_count <> 2 + (t.fee <> 0)::int + COALESCE(c.n, 0)
               THEN 'its entry has ' || e.posting_count || ' postings, it calls for '
                    || 2 + (t.fee <> 0)::int + COALESCE(c.n, 0)
             WHEN t.status = 'reversed' AND r.id IS NULL THEN 'its reversal entry is missing'
             WHEN t.status = 'reversed' AND (r.kind <> '{REVERSAL}'
                  OR r.reference <> t.id::text OR r.posting_count <> e.posting_count)
               THEN 'its reversal entry is not the mirror of its entry posted for it'
             END AS problem
           FROM wallets_transfer t
           LEFT JOIN ledger_journal_entry e ON e.id = t.entry_id
           LEFT JOIN ledger_journal_entry r ON r.id = t.reversal_entry_id
           LEFT JOIN (SELECT entry_id, count(*) AS n FROM commission_record
                      GROUP BY entry_id) c ON c.entry_id = t.entry_id
           LEFT JOIN fx_quote q ON t.kind = 'exchange' AND q.transfer_id = t.id
           LEFT JOIN ledger_journal_entry re
             ON t.kind = 'exchange' AND re.idempotency_key = {_RECEIVE_KEY.format(t="t")}
           LEFT JOIN wallets_wallet sw ON t.kind = 'exchange' AND sw.id = t.source_wallet_id
           LEFT JOIN wallets_wallet dw
             ON t.kind = 'exchange' AND dw.id = t.destination_wallet_id
           WHERE t.entry_id IS NOT NULL OR t.reversal_entry_id IS NOT NULL
              OR t.status IN {_MOVED}"""),
        lambda r: f"transfer {r[0]} ({r[1]}, {r[2]}): {r[3]}",
    ),
    (
        "cross-currency remittances match their receive-currency entries, posting by posting",
        _REMITTANCE_FX_SQL,
        lambda r: (
            f"remittance {r[0]}: FX entry {r[1]} "
            + (
                f"lacks the {r[2]} leg on {r[3]} of {r[4]}"
                if r[5] is None
                else f"posts {r[5]} as the {r[2]} leg on {r[3]}, which it does not call for"
            )
        ),
    ),
    (
        "remittances agree with their transfers",
        _problems(f"""SELECT rm.id, rm.state, t.id, CASE
             WHEN rm.transfer_id IS NULL
                  AND rm.state NOT IN ('CREATED', 'CANCELLED', 'EXPIRED')
               THEN 'is ' || rm.state || ' without a transfer'
             WHEN rm.transfer_id IS NULL AND rm.fx_entry_id IS NOT NULL
               THEN 'has an FX entry but no transfer'
             WHEN rm.transfer_id IS NULL THEN NULL
             WHEN t.kind <> 'remittance' THEN 'its transfer is a ' || t.kind
             WHEN t.amount <> rm.send_amount OR t.fee <> rm.fee
                  OR t.currency <> rm.send_currency
               THEN 'sends ' || rm.send_amount || ' + fee ' || rm.fee || ' '
                    || rm.send_currency || ', its transfer ' || t.amount || ' + fee '
                    || t.fee || ' ' || t.currency
             WHEN rm.state = 'COMPLETED' AND t.status <> 'succeeded'
               THEN 'is COMPLETED but its transfer is ' || t.status
             WHEN rm.state = 'REVERSED' AND t.status <> 'reversed'
               THEN 'is REVERSED but its transfer is ' || t.status
             WHEN rm.state IN ('FAILED', 'CANCELLED', 'CREATED', 'EXPIRED')
                  AND t.status <> 'failed'
               THEN 'is ' || rm.state || ' but its transfer is ' || t.status
             WHEN rm.state IN ('CONFIRMED', 'SUBMITTED') AND t.status NOT IN {_OPEN}
               THEN 'is ' || rm.state || ' but its transfer is ' || t.status
             WHEN (rm.fx_entry_id IS NOT NULL) IS DISTINCT FROM
                  (rm.receive_currency <> rm.send_currency AND t.status IN {_MOVED})
               THEN CASE WHEN rm.fx_entry_id IS NULL THEN 'was paid in '
                         || rm.receive_currency || ' without its FX entry'
                         ELSE 'has an FX entry it does not call for' END
             WHEN rm.fx_entry_id IS NOT NULL
                  AND (e.kind <> 'remittance' OR e.reference <> t.id::text
                       OR e.posting_count <> 2 + (rm.spread <> 0)::int)
               THEN 'its FX entry is not the one posted for its transfer'
             WHEN (rm.fx_reversal_entry_id IS NOT NULL) IS DISTINCT FROM
                  (rm.fx_entry_id IS NOT NULL AND rm.state = 'REVERSED')
               THEN CASE WHEN rm.fx_reversal_entry_id IS NULL THEN 'was reversed in '
                         || rm.receive_currency || ' without the mirror of its FX entry'
                         ELSE 'has an FX reversal entry but is ' || rm.state END
             WHEN rm.fx_reversal_entry_id IS NOT NULL
                  AND (xr.kind <> '{REVERSAL}' OR xr.reference <> t.id::text
                       OR xr.posting_count <> e.posting_count)
               THEN 'its FX reversal entry is not the mirror of its FX entry posted for it'
             WHEN rm.state = 'REVERSED' AND NOT EXISTS (
                    SELECT 1 FROM remittances_reversal v
                    WHERE v.remittance_id = rm.id AND v.state = 'APPROVED'
                      AND v.decided_by <> v.requested_by)
               THEN 'is REVERSED without a reversal request approved by a second person'
             END AS problem
           FROM remittances_remittance rm
           LEFT JOIN wallets_transfer t ON t.id = rm.transfer_id
           LEFT JOIN ledger_journal_entry e ON e.id = rm.fx_entry_id
           LEFT JOIN ledger_journal_entry xr ON xr.id = rm.fx_reversal_entry_id"""),
        lambda r: f"remittance {r[0]} ({r[1]}, transfer {r[2]}): {r[3]}",
    ),
    (
        "an entry serves one transfer",
        """SELECT entry_id, count(*) FROM (
             SELECT entry_id FROM wallets_transfer WHERE entry_id IS NOT NULL
             UNION ALL
             SELECT reversal_entry_id FROM wallets_transfer WHERE reversal_entry_id IS NOT NULL
           ) x GROUP BY entry_id HAVING count(*) > 1""",
        lambda r: f"entry {r[0]}: linked to {r[1]} transfers",
    ),
    (
        "commission records belong to their transfer and add up to its fee",
        f"""SELECT COALESCE(t.id::text, c.reference), c.entry_id, t.fee, c.total, c.same
           FROM (SELECT entry_id, min(reference) AS reference, min(currency) AS currency,
                        sum(amount) AS total,
                        (min(reference) = max(reference) AND min(currency) = max(currency))
                          AS same
                 FROM commission_record GROUP BY entry_id) c
           FULL JOIN (SELECT * FROM wallets_transfer
                      WHERE status IN {_MOVED} AND fee <> 0) t ON t.entry_id = c.entry_id
           WHERE (t.id IS NULL OR c.entry_id IS NULL OR c.total <> t.fee OR NOT c.same
                  OR c.reference <> t.id::text OR c.currency <> t.currency)
             AND NOT (t.id IS NULL AND {transfer_of_reference_archived("c.reference")})""",
        lambda r: (
            f"transfer {r[0]}: fee {r[2]}, but the commission records of entry {r[1]}"
            f" add up to {r[3]}"
            + (" (or name another transfer or currency)" if r[4] is False else "")
        ),
    ),
    (
        "FX quotes marked used belong to one exchange that moved money",
        f"""SELECT q.id, q.transfer_id, t.kind, t.status FROM fx_quote q
           LEFT JOIN wallets_transfer t ON t.id = q.transfer_id
           WHERE q.state = 'used'
             AND (t.id IS NULL OR t.kind <> 'exchange' OR t.status NOT IN {_MOVED})
             AND NOT (t.id IS NULL AND {transfer_archived("q.transfer_id")})""",
        lambda r: f"FX quote {r[0]}: used by transfer {r[1]}, which is a {r[2]} {r[3]} transfer",
    ),
    (
        "commission records cite existing fee schedules",
        """SELECT c.id, c.schedule_id FROM commission_record c
           LEFT JOIN commission_fee_schedule s ON s.id = c.schedule_id WHERE s.id IS NULL""",
        lambda r: f"commission record {r[0]}: fee schedule {r[1]} does not exist",
    ),
    (
        "holds agree with their entries and transfers",
        _problems(f"""SELECT h.id, h.status, h.amount, a.code, CASE
             WHEN r.id IS NULL AND {request_of_hold_archived("h.id")} THEN NULL
             WHEN r.id IS NULL THEN 'belongs to no MoMo request'
             WHEN h.status = 'committed' AND h.entry_id IS NULL
               THEN 'is committed but no entry spent it'
             WHEN h.status = 'committed' AND COALESCE(p.spent, 0) <> -h.amount
                  AND NOT COALESCE({archived("he")}, false)
               THEN 'its entry debits ' || -COALESCE(p.spent, 0) || ' from its account'
             WHEN h.status = 'committed' AND t.entry_id IS DISTINCT FROM h.entry_id
               THEN 'its entry is not its transfer''s entry'
             WHEN h.status IN ('voided', 'expired') AND h.entry_id IS NOT NULL
               THEN 'is released but has an entry'
             WHEN h.status = 'active' AND t.status NOT IN {_OPEN}
               THEN 'is still active but its transfer is ' || t.status
             WHEN t.kind NOT IN {_OUTBOUND} THEN 'holds money for a ' || t.kind
             WHEN h.amount <> t.amount + t.fee
               THEN 'holds ' || h.amount || ' for a transfer of ' || t.amount || ' + fee '
                    || t.fee
             WHEN t.kind = 'remittance' AND a.kind <> 'imto_prefund'
               THEN 'holds a remittance on a ' || a.kind || ' account'
             WHEN t.kind <> 'remittance' AND h.account_id IS DISTINCT FROM sw.account_id
               THEN 'is not on the paying wallet''s account'
             END AS problem
           FROM ledger_hold h
           JOIN ledger_account a ON a.id = h.account_id
           LEFT JOIN ledger_journal_entry he ON he.id = h.entry_id
           LEFT JOIN momo_request r ON r.hold_id = h.id
           LEFT JOIN wallets_transfer t ON t.id = r.transfer_id
           LEFT JOIN wallets_wallet sw ON sw.id = t.source_wallet_id
           LEFT JOIN (SELECT p.entry_id, p.account_id, sum(p.amount) AS spent
                      FROM ledger_posting p
                      WHERE p.entry_id IN (SELECT entry_id FROM ledger_hold
                                           WHERE entry_id IS NOT NULL)
                      GROUP BY 1, 2) p
             ON p.entry_id = h.entry_id AND p.account_id = h.account_id"""),
        lambda r: f"hold {r[0]} ({r[1]}, {r[2]} on {r[3]}): {r[4]}",
    ),
    (
        "MoMo requests agree with their transfers",
        _problems(f"""SELECT r.reference_id, r.status, t.id, CASE
             WHEN t.id IS NULL THEN 'carries no transfer'
             WHEN t.kind NOT IN {_MOMO_KINDS} THEN 'carries a ' || t.kind || ' transfer'
             WHEN r.amount <> COALESCE(rm.receive_amount, t.amount)
                  OR r.currency <> COALESCE(rm.receive_currency, t.currency)
               THEN 'is for ' || r.amount || ' ' || r.currency || ', its '
                    || CASE WHEN rm.id IS NULL THEN 'transfer' ELSE 'remittance' END
                    || ' for ' || COALESCE(rm.receive_amount, t.amount) || ' '
                    || COALESCE(rm.receive_currency, t.currency)
             WHEN r.status = 'successful' AND t.status NOT IN {_MOVED}
               THEN 'is successful but its transfer is ' || t.status
             WHEN r.status = 'successful'
                  AND e.idempotency_key IS DISTINCT FROM 'momo:' || r.reference_id
               THEN 'is successful but its transfer''s entry is not keyed momo:<reference>'
             WHEN r.status = 'failed' AND t.status <> 'failed'
               THEN 'failed but its transfer is ' || t.status
             WHEN r.status NOT IN ('successful', 'failed') AND t.status NOT IN {_OPEN}
               THEN 'is still open but its transfer is ' || t.status
             WHEN t.kind IN {_OUTBOUND} AND r.hold_id IS NULL THEN 'pays out without a hold'
             END AS problem
           FROM momo_request r
           LEFT JOIN wallets_transfer t ON t.id = r.transfer_id
           LEFT JOIN remittances_remittance rm ON rm.transfer_id = t.id
           LEFT JOIN ledger_journal_entry e ON e.id = t.entry_id"""),
        lambda r: f"MoMo request {r[0]} ({r[1]}, transfer {r[2]}): {r[3]}",
    ),
    (
        "MoMo transfers that moved money or are open have their request",
        f"""SELECT t.id, t.kind, t.status FROM wallets_transfer t
           LEFT JOIN momo_request r ON r.transfer_id = t.id
           WHERE t.kind IN {_MOMO_KINDS} AND t.status <> 'failed' AND r.id IS NULL
             AND NOT {request_of_transfer_archived("t.id")}""",
        lambda r: f"transfer {r[0]} ({r[1]}, {r[2]}): no MoMo request carries it",
    ),
    (
        "every journal entry belongs to a transfer, a committed hold or a standalone kind",
        f"""SELECT e.id, e.kind, e.reference FROM ledger_journal_entry e
           WHERE e.kind <> ALL(%(standalone)s)
             AND NOT EXISTS (SELECT 1 FROM wallets_transfer t
                             WHERE t.entry_id = e.id AND t.status IN {_MOVED})
             AND NOT EXISTS (SELECT 1 FROM wallets_transfer t WHERE t.reversal_entry_id = e.id)
             AND NOT EXISTS (SELECT 1 FROM wallets_transfer t
                             WHERE t.kind = 'exchange' AND t.status IN {_MOVED}
                               AND e.idempotency_key = {_RECEIVE_KEY.format(t="t")})
             AND NOT EXISTS (SELECT 1 FROM ledger_hold h
                             WHERE h.entry_id = e.id AND h.status = 'committed')
             AND NOT EXISTS (SELECT 1 FROM remittances_remittance x
                             WHERE x.fx_entry_id = e.id OR x.fx_reversal_entry_id = e.id)
             AND NOT {transfer_of_reference_archived("e.reference")}""",
        lambda r: (
            f"entry {r[0]} ({r[1]}, reference {r[2]!r}): belongs to no transfer or"
            " hold, and its kind is not a standalone kind"
        ),
    ),
    (
        "opening balances have their shape",
        f"""SELECT e.id, e.kind FROM ledger_journal_entry e
           LEFT JOIN (
             SELECT p.entry_id, count(*) AS n,
                    count(*) FILTER (WHERE a.kind = 'equity' AND p.amount < 0) AS equity,
                    count(*) FILTER (WHERE a.kind IN ('wallet', 'imto_prefund')
                                       AND p.amount > 0) AS customer
             FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
             WHERE p.entry_id IN (SELECT id FROM ledger_journal_entry
                                  WHERE kind = %(opening)s)
             GROUP BY p.entry_id) s ON s.entry_id = e.id
           WHERE e.kind = %(opening)s
             AND NOT (s.n = 2 AND s.equity = 1 AND s.customer = 1)
             AND NOT COALESCE({archived("e")}, false)""",
        lambda r: f"entry {r[0]} ({r[1]}): not {STANDALONE_KINDS.get(r[1], 'its shape')}",
    ),
    (
        "only opening balances touch equity accounts",
        """SELECT p.entry_id, e.kind, a.code, p.amount FROM ledger_account a
           JOIN ledger_posting p ON p.account_id = a.id
           JOIN ledger_journal_entry e ON e.id = p.entry_id
           WHERE a.kind = 'equity' AND e.kind <> ALL(%(equity)s)""",
        lambda r: f"entry {r[0]} ({r[1]}): posts {r[3]} on equity account {r[2]}",
    ),
    # The limits' usage counters and pending deposits, recomputed from the transfers.
    *(
        (name, sql, lambda r, name=name: f"{name}: {', '.join(str(v) for v in r)}")
        for name, sql in USAGE_CHECKS
    ),
    # Settlement: position deltas, settlement and top-up entries (data/settlement/selectors.py).
    *(
        (name, sql, lambda r, name=name: f"{name}: {', '.join(str(v) for v in r)}")
        for name, sql in SETTLEMENT_CHECKS
    ),
)


_BOUNDARY_SQL = f"""
SELECT (SELECT array_agg(month ORDER BY month) FROM {ARCHIVED_MONTHS} m),
       (SELECT count(*) FROM ledger_posting_boundary)
"""


def boundary_note(result: LedgerVerifyResult) -> str:
    """What verify started from while months of postings are archived."""
    months = ", ".join(result.boundary_months)
    return (
        f"Archived posting months {months}: balances start from the boundary snapshots of"
        f" {result.boundary_accounts} account(s) plus the postings after them; entries and"
        " transfers of those months are not checked (restore a month to check it)"
    )


def _schema_problems(cur: Any) -> list[str]:
    problems: list[str] = []
    cur.execute(_TRIGGERS_SQL)
    triggers = cur.fetchall()
    present = {(rel, name) for rel, name, _e, _i, _c in triggers}
    for table, trigger in REQUIRED_TRIGGERS:
        if (table, trigger) not in present:
            problems.append(f"trigger {trigger} on {table} is missing")
    for table, trigger, enabled, internal, constraint in sorted(triggers):
        name = f"foreign key {constraint}'s trigger" if internal and constraint else trigger
        name = f"{name} ({trigger})" if internal and constraint else name
        if enabled == "D":
            problems.append(f"trigger {name} on {table} is disabled")
        elif enabled == "R":
            problems.append(
                f"trigger {name} on {table} fires only for replication (ENABLE REPLICA): it is"
                " off in every normal session"
            )
    cur.execute(_CONSTRAINTS_SQL)
    constraints = {(rel, name): valid for rel, name, valid in cur.fetchall()}
    for table, constraint in REQUIRED_CONSTRAINTS:
        valid = constraints.get((table, constraint))
        if valid is None:
            problems.append(f"constraint {constraint} on {table} is missing")
        elif not valid:
            problems.append(f"constraint {constraint} on {table} is NOT VALID (rows unchecked)")
    cur.execute("SELECT current_setting('session_replication_role')")
    role = cur.fetchone()[0]
    if role != "origin":
        problems.append(
            f"sessions start with session_replication_role = {role}: triggers and foreign keys"
            " are off"
        )
    cur.execute(_REPLICATION_ROLE_SQL)
    for who, where, config in cur.fetchall():
        problems.append(
            f"a default setting for {who} in {where} sets the triggers' mode: {', '.join(config)}"
        )
    return problems


def ledger_verify(*, progress: Callable[[str], None] | None = None) -> LedgerVerifyResult:
    """Check every integrity rule of the ledger and the money movements around it."""
    result = LedgerVerifyResult()
    params: dict[str, Any] = {
        "standalone": list(STANDALONE_KINDS),
        "opening": OPENING_BALANCE,
        "equity": list(EQUITY_KINDS),
    }
    with transaction.atomic(), connection.cursor() as cur:
        if not connection.in_atomic_block or len(connection.atomic_blocks) == 1:
            # One snapshot for every check (not possible inside a caller's transaction).
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # The aggregates over postings run in memory rather than in temporary files.
        cur.execute("SET LOCAL work_mem = '256MB'")
        schema = _schema_problems(cur)
        result.problems.extend(schema)
        if schema:
            result.failed["integrity triggers and constraints"] = len(schema)
        if progress:
            progress("integrity triggers and constraints in place")
        cur.execute(_BOUNDARY_SQL)
        months, accounts = cur.fetchone()
        result.boundary_months = [f"{m:%Y-%m}" for m in months or []]
        result.boundary_accounts = int(accounts)
        if progress and result.boundary_months:
            progress(boundary_note(result))
        cur.execute(_SUMS_SQL)
        tagged: dict[int, list[tuple[Any, ...]]] = {}
        for tag, *row in cur.fetchall():
            tagged.setdefault(int(tag), []).append(tuple(row))
        result.checked = int(tagged[3][0][1])
        for tag, (name, describe) in enumerate(_SUMS_CHECKS):
            _report(result, name, describe, tagged.get(tag, []), progress)
        for name, sql, describe in _CHECKS:
            cur.execute(sql, params if "%(" in sql else None)
            _report(result, name, describe, cur.fetchall(), progress)
        name = "balance checkpoints equal the postings they sum"
        checkpoints = ledger_checkpoints_verify()
        if checkpoints:
            result.failed[name] = len(checkpoints)
            result.problems.extend(checkpoints[:MAX_PER_CHECK])
        if progress:
            progress(name)
        name = "commission records follow their fee schedules"
        records = commission_records_check(limit=MAX_PER_CHECK + 1)
        if records:
            result.failed[name] = len(records)
            result.problems.extend(records[:MAX_PER_CHECK])
        if progress:
            progress(name)
    return result


def _report(
    result: LedgerVerifyResult,
    name: str,
    describe: Callable[[tuple[Any, ...]], str],
    rows: Sequence[tuple[Any, ...]],
    progress: Callable[[str], None] | None,
) -> None:
    if rows:
        result.failed[name] = len(rows)
    result.problems.extend(describe(row) for row in rows[:MAX_PER_CHECK])
    if len(rows) > MAX_PER_CHECK:
        result.problems.append(f"... and {len(rows) - MAX_PER_CHECK} more: {name}")
    if progress:
        progress(name)
