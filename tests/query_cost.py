"""How much of a table a piece of code reads: the queries it runs, re-run under
``EXPLAIN (ANALYZE, FORMAT JSON)``, and the rows their plan nodes produced from each table.

Used by the tests that prove a request path's cost does not grow with history
(docs/performance.md): the count is a property of the plan and the data, not a timing.
Only for read-only code (each query is executed a second time by EXPLAIN ANALYZE).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lightway.data.ledger.rollups import ledger_checkpoints_advance


class _Undo(Exception):
    """Rolls the EXPLAIN's savepoint back, and with it every ``SET LOCAL`` made for it (a
    released savepoint would leave them in force to the end of the test's transaction)."""


# A monthly partition and its indexes, by the name of the partitioned table or index they
# belong to (pg_inherits holds both): a plan on a partitioned table scans each month, and
# the tests count rows per table and name the index a query reads through.
_ROOTS_SQL = """
WITH RECURSIVE up(child, top) AS (
  SELECT inhrelid, inhparent FROM pg_inherits
  UNION ALL
  SELECT up.child, i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.top)
SELECT c.relname, t.relname FROM up
  JOIN pg_class c ON c.oid = up.child JOIN pg_class t ON t.oid = up.top
 WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = up.top)
"""


def _to_roots(node: dict[str, Any], roots: dict[str, str], partition: str | None = None) -> None:
    """Name each scan by its partitioned table and index; keep the month it scanned in
    ``Partition`` (also on the index scans under a bitmap heap scan of that month)."""
    if node.get("Relation Name") in roots:
        partition = node["Relation Name"]
    if partition is not None:
        node["Partition"] = partition
    for key in ("Relation Name", "Index Name"):
        if node.get(key) in roots:
            node[key] = roots[node[key]]
    for child in node.get("Plans", []) or []:
        _to_roots(child, roots, partition if node.get("Relation Name") else None)


def _explain(sql: str, params: Any, settings: tuple[str, ...], *, analyze: bool) -> Any:
    plan: Any = None
    roots: dict[str, str] = {}
    try:
        with transaction.atomic(), connection.cursor() as cur:
            for statement in settings:
                cur.execute(statement)
            options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
            cur.execute(f"EXPLAIN ({options}) " + sql, params)
            plan = cur.fetchone()[0]
            cur.execute(_ROOTS_SQL)
            roots = dict(cur.fetchall())
            raise _Undo
    except _Undo:
        pass
    plan = json.loads(plan) if isinstance(plan, str) else plan
    for item in plan:
        _to_roots(item["Plan"], roots)
    return plan


# The planner settings each captured SELECT ran under: the ``SET LOCAL`` statements the code
# made before it in its (sub)transaction, e.g. ``index_order()``'s sorts and bitmap scans
# off. Re-planned without them, a query would be measured under another plan than it runs.
_SETTINGS_OF: dict[str, tuple[str, ...]] = {}


def _selects(captured: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    levels: list[list[str]] = [[]]
    out: list[tuple[str, tuple[str, ...]]] = []
    for query in captured:
        sql = query["sql"].strip()
        head = sql.upper()
        if head.startswith("SAVEPOINT"):
            levels.append([])
        elif head.startswith("RELEASE SAVEPOINT"):
            if len(levels) > 1:  # SET LOCAL outlives a released savepoint
                done = levels.pop()
                levels[-1].extend(done)
        elif head.startswith("ROLLBACK TO SAVEPOINT"):
            levels[-1].clear()  # ... and not one rolled back to
        elif head.startswith("SET LOCAL"):
            levels[-1].append(sql)
        elif head.startswith("SELECT SET_CONFIG("):
            levels[-1].clear()  # index_order() putting the settings back
        elif head.startswith(("SELECT", "WITH")):
            settings = tuple(statement for level in levels for statement in level)
            _SETTINGS_OF[sql] = settings
            out.append((sql, settings))
    return out


def _walk(node: dict[str, Any], rows: Counter[str]) -> None:
    relation = node.get("Relation Name")
    if relation:
        # Rows the node returned plus those its filter threw away: what it had to read.
        loops = int(node.get("Actual Loops", 1) or 1)
        read = float(node.get("Actual Rows", 0)) + float(node.get("Rows Removed by Filter", 0))
        if node.get("Node Type") == "Bitmap Heap Scan":
            read += float(node.get("Rows Removed by Index Recheck", 0))
        rows[relation] += int(read * loops)
    for child in node.get("Plans", []) or []:
        _walk(child, rows)


def plan_rows(sql: str, params: Any = None) -> Counter[str]:
    """Rows read per table by one query."""
    rows: Counter[str] = Counter()
    plan = _explain(sql, params, _SETTINGS_OF.get(sql.strip(), ()), analyze=True)
    _walk(plan[0]["Plan"], rows)
    return rows


def rows_read(run: Callable[[], object], *, as_on_a_large_table: bool = False) -> Counter[str]:
    """Rows read per table by every SELECT that ``run()`` sends to the database.

    With ``as_on_a_large_table``, the plans are made with sequential scans discouraged
    (``enable_seqscan = off``), as the planner chooses once a table is large: on the few
    hundred rows of a test, whose statistics may say the table is empty (a table emptied by
    an earlier test, analysed since), reading all of them in one scan is the cheaper plan,
    so the rows read would measure the statistics, not whether the query is bounded."""
    with CaptureQueriesContext(connection) as captured:
        run()
    total: Counter[str] = Counter()
    for sql, settings in _selects(captured.captured_queries):
        if as_on_a_large_table:
            settings = (*settings, "SET LOCAL enable_seqscan = off")
        plan = _explain(sql, None, settings, analyze=True)
        _walk(plan[0]["Plan"], total)
    return total


def _scans(node: dict[str, Any], out: list[dict[str, Any]]) -> None:
    if node.get("Relation Name") or node.get("Index Name"):
        out.append(node)  # table scans, and the index scans under a bitmap heap scan
    for child in node.get("Plans", []) or []:
        _scans(child, out)


def _months_holding_rows(table: str) -> set[str]:
    """The partitions of ``table`` (a partitioned table) that hold at least one row."""
    with connection.cursor() as cur:
        cur.execute(f'SELECT DISTINCT tableoid::regclass::text FROM "{table}"')
        return {name for (name,) in cur.fetchall()}


def scans_without_seqscan(sql: str, params: Any = None) -> list[dict[str, Any]]:
    """The scan nodes of ``sql``'s plan when sequential scans are a last resort: on a
    test's few rows the planner would rather read the whole table, so this shows which
    index the query *can* use (and that it has one) on a table of millions.

    On a partitioned table that holds rows, the scans of its months that hold none are left
    out: any index costs nothing there, so the planner's pick for them says nothing (on a
    real database every month it scans holds rows and statistics)."""
    out: list[dict[str, Any]] = []
    settings = (*_SETTINGS_OF.get(sql.strip(), ()), "SET LOCAL enable_seqscan = off")
    plan = _explain(sql, params, settings, analyze=False)
    _scans(plan[0]["Plan"], out)
    parted = {str(n["Relation Name"]) for n in out if "Partition" in n and "Relation Name" in n}
    held = {table: _months_holding_rows(table) for table in parted}
    return [
        n
        for n in out
        if "Partition" not in n
        or not held.get(str(n.get("Relation Name")))
        or n["Partition"] in held[str(n.get("Relation Name"))]
    ]


def captured_selects(run: Callable[[], object], table: str) -> list[str]:
    """The SQL of every SELECT on ``table`` that ``run()`` sends."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [sql for sql, _settings in _selects(captured.captured_queries) if f'"{table}"' in sql]


def checkpoints_roll_up(*, every: int) -> None:
    """Write the balance checkpoints the statements read. The job skips a run while a
    transaction it cannot see into is in flight anywhere on the server (another test
    process's, in CI): run it again then, as the periodic job would."""
    for _ in range(10):
        if ledger_checkpoints_advance(every=every, wait_seconds=2).waited:
            return
    pytest.fail("the ledger checkpoints could not be rolled up (transactions kept running)")
