"""What ``lightway ledger verify`` checks of settlement (``data/ledger/verify.py`` runs these).

- the triggers that carry settlement's rules are installed (``SETTLEMENT_TRIGGERS``);
- every payment posted since settlement began (``settlement_epoch``) has exactly its
  counterparty-facing postings as position deltas, one per (entry, account), and no delta
  names an entry that is not such a payment's: positions were kept incrementally and
  nothing was counted twice or lost;
- every ``settlement`` entry is its settled instruction's, posting by posting: each cash
  position of the counterparty in the window cleared, the net through the settlement bank;
- every ``topup`` entry is its top-up's: the settlement bank debited, the partner's prefund
  credited, by the top-up's amount.

Each check is one set-based statement (joins and aggregates, no lookup per row).
"""

from __future__ import annotations

from lightway.data.ledger.archived import archived, transfer_of_reference_archived

SETTLEMENT_TRIGGERS: tuple[tuple[str, str], ...] = (
    ("wallets_transfer", "settlement_transfer_posted"),
    ("wallets_transfer", "settlement_transfer_moved"),
    ("settlement_position_delta", "settlement_delta_open_window"),
    ("settlement_position_delta", "settlement_delta_append_only"),
    ("settlement_position", "settlement_position_append_only"),
    ("settlement_window", "settlement_window_guard"),
    ("settlement_instruction", "settlement_instruction_guard"),
    ("settlement_topup", "settlement_topup_append_only"),
    ("settlement_callback", "settlement_callback_guard"),
)

_POSITION_KINDS = "('momo_float', 'commission_payable', 'imto_prefund')"

SETTLEMENT_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "payments since settlement began are in the position deltas, once",
        f"""WITH moved AS (
              SELECT entry_id FROM wallets_transfer WHERE status IN ('succeeded', 'reversed')
              UNION ALL
              SELECT reversal_entry_id FROM wallets_transfer WHERE reversal_entry_id IS NOT NULL
              UNION ALL
              -- a cross-currency payment's receive entry (and that of its reversal)
              SELECT e.id FROM wallets_transfer t
              JOIN ledger_journal_entry e
                ON e.idempotency_key IN ('fx:' || t.id::text, 'reversal-fx:' || t.id::text)
              WHERE t.status IN ('succeeded', 'reversed')
            ), want AS (
              SELECT p.entry_id, p.account_id, sum(p.amount) AS amount
              FROM ledger_posting p
              JOIN moved m ON m.entry_id = p.entry_id
              JOIN ledger_account a ON a.id = p.account_id
              WHERE a.kind IN {_POSITION_KINDS}
                AND p.entry_id > (SELECT max(entry_id) FROM settlement_epoch)
              GROUP BY p.entry_id, p.account_id HAVING sum(p.amount) <> 0
            ), got AS (
              SELECT entry_id, account_id, sum(amount) AS amount, count(*) AS n
              FROM settlement_position_delta WHERE entry_id IS NOT NULL
              GROUP BY entry_id, account_id
            )
            SELECT COALESCE(w.entry_id, g.entry_id), COALESCE(w.account_id, g.account_id),
                   w.amount, g.amount, g.n
            FROM want w FULL JOIN got g
              ON g.entry_id = w.entry_id AND g.account_id = w.account_id
            WHERE (w.entry_id IS NULL OR g.entry_id IS NULL OR w.amount <> g.amount OR g.n <> 1)
              -- an entry of an archived month of postings: its postings left with it
              AND NOT EXISTS (SELECT 1 FROM ledger_journal_entry ae
                              WHERE ae.id = COALESCE(w.entry_id, g.entry_id)
                                AND {archived("ae")})
              -- ... or of a transfer of an archived month (its transfer left with it)
              AND NOT EXISTS (SELECT 1 FROM ledger_journal_entry ae
                              WHERE ae.id = COALESCE(w.entry_id, g.entry_id)
                                AND {transfer_of_reference_archived("ae.reference")})""",
    ),
    (
        "settlement entries are their settled instructions'",
        f"""WITH expected AS (
              SELECT i.entry_id, p.account_id, 'position'::text AS leg, -p.amount AS amount
              FROM settlement_instruction i
              JOIN settlement_position p ON p.window_id = i.window_id
               AND p.counterparty = i.counterparty AND p.currency = i.currency
               AND p.cash AND p.amount <> 0
              WHERE i.status = 'settled'
              UNION ALL
              SELECT i.entry_id, COALESCE(b.id, 0), 'bank',
                     CASE i.direction WHEN 'pay' THEN i.amount ELSE -i.amount END
              FROM settlement_instruction i
              LEFT JOIN ledger_account b ON b.code = 'house:settlement_bank:' || i.currency
              WHERE i.status = 'settled'
            ), got AS (
              SELECT p.entry_id, p.account_id, p.leg::text AS leg, p.amount
              FROM ledger_posting p JOIN ledger_journal_entry e ON e.id = p.entry_id
              WHERE e.kind = 'settlement'
            )
            SELECT COALESCE(w.entry_id, g.entry_id), COALESCE(w.account_id, g.account_id),
                   COALESCE(w.leg, g.leg), w.amount, g.amount
            FROM expected w FULL JOIN got g
              ON g.entry_id = w.entry_id AND g.account_id = w.account_id AND g.leg = w.leg
             AND g.amount = w.amount
            WHERE (w.entry_id IS NULL OR g.entry_id IS NULL)
              AND NOT EXISTS (SELECT 1 FROM ledger_journal_entry ae
                              WHERE ae.id = COALESCE(w.entry_id, g.entry_id)
                                AND {archived("ae")})
            UNION ALL
            SELECT e.id, NULL, 'reference ' || e.reference, NULL, NULL
            FROM ledger_journal_entry e
            LEFT JOIN settlement_instruction i ON i.entry_id = e.id AND i.status = 'settled'
            WHERE e.kind = 'settlement' AND (i.id IS NULL OR e.reference <> i.instr_id)""",
    ),
    (
        "top-up entries are their top-ups'",
        f"""WITH s AS (
              SELECT t.id, count(p.id) AS n,
                     count(*) FILTER (WHERE a.code = 'house:settlement_bank:' || t.currency
                                        AND p.amount = -t.amount AND p.leg = 'bank') AS bank,
                     count(*) FILTER (WHERE a.kind = 'imto_prefund'
                                        AND a.owner_ref = t.partner_code
                                        AND a.currency = t.currency
                                        AND p.amount = t.amount AND p.leg = 'topup') AS prefund
              FROM settlement_topup t
              LEFT JOIN ledger_posting p ON p.entry_id = t.entry_id
              LEFT JOIN ledger_account a ON a.id = p.account_id
              GROUP BY t.id
            )
            SELECT t.bank_reference, t.entry_id, e.kind, s.n, s.bank, s.prefund
            FROM settlement_topup t JOIN s ON s.id = t.id
            LEFT JOIN ledger_journal_entry e ON e.id = t.entry_id
            WHERE e.id IS NULL OR e.kind <> 'topup' OR e.reference <> t.bank_reference
               OR ((s.n <> 2 OR s.bank <> 1 OR s.prefund <> 1)
                   AND NOT COALESCE({archived("e")}, false))
            UNION ALL
            SELECT e.reference, e.id, e.kind, NULL, NULL, NULL
            FROM ledger_journal_entry e LEFT JOIN settlement_topup t ON t.entry_id = e.id
            WHERE e.kind = 'topup' AND t.id IS NULL""",
    ),
)
