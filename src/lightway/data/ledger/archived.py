"""Which months of postings are archived (detached or dropped, ledger 0010), as SQL for
the checks that compare an entry's postings with what it should post: they skip the entries
of those months, whose postings left with the month (``lightway archive restore --month``
brings them back; docs/partitions.md, "How posting months leave")."""

from __future__ import annotations

# The archived months of postings (a subquery).
ARCHIVED_MONTHS = """(SELECT month FROM archive_manifest WHERE table_name = 'ledger_posting'
                      AND state IN ('detached', 'dropped'))"""


def archived(entry: str) -> str:
    """SQL: the entry aliased ``entry`` is in an archived month of postings, or part of
    its postings is (an entry straddling a month's end, recorded with the month's
    snapshot in ``ledger_posting_snapshot_entry``); NULL for no entry."""
    month = f"date_trunc('month', {entry}.created_at AT TIME ZONE 'UTC')::date"
    return (
        f"({month} IN {ARCHIVED_MONTHS} OR EXISTS (SELECT 1 FROM ledger_posting_snapshot_entry"
        f" se WHERE se.entry_id = {entry}.id AND se.month IN {ARCHIVED_MONTHS}))"
    )


# --- rows of archived months of transfers and MoMo requests (archive 0004) --------------------
#
# A detached or dropped month takes its rows away but leaves their keys in the key tables
# (``<table>_<column>_taken``): a key that is taken while no attached row holds it belongs
# to a row of an archived month. The checks that compare a row with the transfer or MoMo
# request it names skip it then (``lightway archive restore --month`` brings the row back
# and the check with it).

# A transfer id (its entries' ``reference``), as a pattern to test before casting.
UUID_PATTERN = "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"


def _archived_key(key_table: str, column: str, value: str, table: str) -> str:
    return (
        f"(EXISTS (SELECT 1 FROM {key_table} k WHERE k.{column} = {value})"
        f" AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.{column} = {value}))"
    )


def transfer_archived(transfer_id: str) -> str:
    """SQL: the transfer ``transfer_id`` (a uuid expression) is in an archived month."""
    return _archived_key("wallets_transfer_id_taken", "id", transfer_id, "wallets_transfer")


def transfer_of_reference_archived(reference: str) -> str:
    """SQL: ``reference`` (text: an entry's or commission record's) names a transfer of an
    archived month."""
    return (
        f"(CASE WHEN {reference} ~ {UUID_PATTERN}"
        f" THEN {transfer_archived(f'({reference})::uuid')} ELSE false END)"
    )


def request_of_transfer_archived(transfer_id: str) -> str:
    """SQL: the MoMo request that carried the transfer is in an archived month."""
    return _archived_key(
        "momo_request_transfer_id_taken", "transfer_id", transfer_id, "momo_request"
    )


def request_of_hold_archived(hold_id: str) -> str:
    """SQL: the MoMo request the hold backed is in an archived month."""
    return _archived_key("momo_request_hold_id_taken", "hold_id", hold_id, "momo_request")
