"""The fingerprint of a platform database: what a backup and its restore must agree on.

Three parts, each computed from the rows themselves (not from a cached figure):

- **ledger**: for every account, in id order, its id, code, currency, stored balance, held
  amount, the sum and the number of its postings, hashed into one SHA-256; beside it the
  number of accounts, journal entries and postings and, per currency, the sum of the
  positive postings (the turnover) and of all postings (zero when every entry balances);
- **transfers**: their number and a SHA-256 over every transfer (id, kind, status, currency,
  amount, fee, its journal entries), in id order;
- **audit**: the chain head (seq and hash of the last linked record), the number of records
  and of those not linked yet.

:func:`fingerprint_read` takes a psycopg cursor, so it runs on any database (a backup's
source inside the snapshot it dumps, a scratch database, a cluster restored to a point in
time) with no Django connection. Run it inside one REPEATABLE READ transaction so that all
three parts see one snapshot. Reads every posting and transfer once (streamed, constant
memory): a backup-time cost, never on a request path.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg import Cursor

# Rows read per round trip while streaming transfers.
_FETCH = 5_000


@dataclass(frozen=True)
class Fingerprint:
    accounts: int
    entries: int
    postings: int
    balances_sha256: str
    turnover: dict[str, int]  # currency -> sum of positive postings
    imbalance: dict[str, int]  # currency -> sum of all postings (0 when balanced)
    transfers: int
    transfers_sha256: str
    transfers_by_status: dict[str, int]
    audit_records: int
    audit_unlinked: int
    audit_head_seq: int
    audit_head_hash: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        names = set(cls.__dataclass_fields__)
        missing = names - set(data) - {"extra"}
        if missing:
            raise ValueError(f"fingerprint lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in names})


def _stream_digest(cursor: Cursor[Any], sql: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    cursor.execute(sql)
    while rows := cursor.fetchmany(_FETCH):
        for row in rows:
            digest.update(("|".join("" if v is None else str(v) for v in row) + "\n").encode())
        count += len(rows)
    return count, digest.hexdigest()


def fingerprint_read(cursor: Cursor[Any]) -> Fingerprint:
    """The fingerprint of the database ``cursor`` reads (see the module's docstring)."""
    accounts, balances = _stream_digest(
        cursor,
        """SELECT a.id, a.code, a.currency, a.balance, a.held,
                  coalesce(p.total, 0), coalesce(p.n, 0)
             FROM ledger_account a
             LEFT JOIN (SELECT account_id, sum(amount) AS total, count(*) AS n
                          FROM ledger_posting GROUP BY account_id) p ON p.account_id = a.id
            ORDER BY a.id""",
    )
    cursor.execute("SELECT count(*) FROM ledger_journal_entry")
    entries = int(_one(cursor))
    cursor.execute(
        """SELECT currency, count(*), coalesce(sum(amount) FILTER (WHERE amount > 0), 0),
                  coalesce(sum(amount), 0)
             FROM ledger_posting GROUP BY currency ORDER BY currency"""
    )
    postings = 0
    turnover: dict[str, int] = {}
    imbalance: dict[str, int] = {}
    for currency, n, positive, total in cursor.fetchall():
        postings += int(n)
        turnover[currency] = int(positive)
        imbalance[currency] = int(total)
    transfers, transfers_sha = _stream_digest(
        cursor,
        """SELECT id, kind, status, currency, amount, fee, entry_id, reversal_entry_id
             FROM wallets_transfer ORDER BY id""",
    )
    cursor.execute("SELECT status, count(*) FROM wallets_transfer GROUP BY status ORDER BY 1")
    by_status = {str(status): int(n) for status, n in cursor.fetchall()}
    cursor.execute("SELECT count(*), count(*) FILTER (WHERE seq IS NULL) FROM audit_record")
    row = cursor.fetchone()
    records, unlinked = (int(row[0]), int(row[1])) if row else (0, 0)
    cursor.execute(
        "SELECT seq, hash FROM audit_record WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
    )
    head = cursor.fetchone()
    return Fingerprint(
        accounts=accounts,
        entries=entries,
        postings=postings,
        balances_sha256=balances,
        turnover=turnover,
        imbalance=imbalance,
        transfers=transfers,
        transfers_sha256=transfers_sha,
        transfers_by_status=by_status,
        audit_records=records,
        audit_unlinked=unlinked,
        audit_head_seq=int(head[0]) if head else 0,
        audit_head_hash=str(head[1]) if head else "",
    )


def _one(cursor: Cursor[Any]) -> Any:
    row = cursor.fetchone()
    return row[0] if row else None


_LABELS = {
    "accounts": "ledger accounts",
    "entries": "journal entries",
    "postings": "postings",
    "balances_sha256": "ledger balances digest",
    "turnover": "turnover per currency",
    "imbalance": "sum of postings per currency",
    "transfers": "transfer count",
    "transfers_sha256": "transfers digest (id, kind, status, amounts, entries)",
    "transfers_by_status": "transfers per status",
    "audit_records": "audit records",
    "audit_unlinked": "unlinked audit records",
    "audit_head_seq": "audit chain head seq",
    "audit_head_hash": "audit chain head hash",
}


def fingerprint_compare(expected: Fingerprint, actual: Fingerprint) -> list[str]:
    """What differs between two fingerprints, one line each (empty: identical)."""
    differences = []
    want, got = expected.as_dict(), actual.as_dict()
    for name, label in _LABELS.items():
        if want[name] != got[name]:
            differences.append(f"{label}: expected {want[name]}, found {got[name]}")
    return differences


def fingerprint_lines(fp: Fingerprint) -> list[str]:
    """A fingerprint for people (the CLI prints it)."""
    turnover = ", ".join(f"{c} {v}" for c, v in fp.turnover.items()) or "none"
    statuses = ", ".join(f"{s} {n}" for s, n in fp.transfers_by_status.items()) or "none"
    return [
        f"Ledger:    {fp.accounts} accounts, {fp.entries} entries, {fp.postings} postings;"
        f" balances sha256 {fp.balances_sha256[:16]}...",
        f"Turnover:  {turnover} (minor units)",
        f"Transfers: {fp.transfers} ({statuses}); sha256 {fp.transfers_sha256[:16]}...",
        f"Audit:     head seq {fp.audit_head_seq} hash {fp.audit_head_hash or '-'};"
        f" {fp.audit_records} records, {fp.audit_unlinked} unlinked",
    ]
