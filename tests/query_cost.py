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

from django.db import connection
from django.test.utils import CaptureQueriesContext


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
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cur.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    _walk(plan[0]["Plan"], rows)
    return rows


def rows_read(run: Callable[[], object]) -> Counter[str]:
    """Rows read per table by every SELECT that ``run()`` sends to the database."""
    with CaptureQueriesContext(connection) as captured:
        run()
    total: Counter[str] = Counter()
    for query in captured.captured_queries:
        sql = query["sql"]
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            total.update(plan_rows(sql))
    return total
