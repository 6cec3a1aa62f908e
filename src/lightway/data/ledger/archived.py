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
