"""Benchmark only: the HTTP floor of ``POST /api/v1/transfers`` (docs/performance.md).

``POST /api/v1/bench/floor-transfer`` is served by the same server, URL routing, middleware,
bearer authentication and authorization check (``self.transfer``) as the transfers
endpoint, but its work is the benchmark baseline's one-round-trip SQL (one journal entry,
two postings, balances applied by the ledger's triggers; ``BASELINE_SQL`` in
``benchmarks/transfers.py``, kept equal by a test). ``benchmarks/transfers.py`` measures it
to tell what the HTTP stack costs from what the payment logic costs.

It moves money between any two UGX ledger accounts named in the request with no check but
the ledger's own (no ownership, fee, limit, idempotency or audit), so it exists only when
``LIGHTWAY_BENCH_FLOOR`` is on (``interfaces/api/v1.py`` mounts it; the settings refuse the
flag in production) and never appears in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from django.db import DataError, IntegrityError, connection
from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema
from pydantic import ConfigDict, Field, StrictInt, model_validator

from lightway.interfaces.api.errors import error_response
from lightway.interfaces.web.authz import api_requires

# The baseline's statement, character for character (tests/test_bench_floor.py).
FLOOR_SQL = """
WITH e AS (
  INSERT INTO ledger_journal_entry (kind, reference, description, posting_count, created_at)
  VALUES ('bench', '', '', 2, now()) RETURNING id)
INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)
SELECT e.id, v.account_id, 'UGX', v.amount, '', now()
FROM e, (VALUES (%s::bigint, %s::bigint), (%s::bigint, %s::bigint)) AS v(account_id, amount)
"""

router = Router(tags=["benchmark"])


class FloorTransferIn(Schema):
    model_config = ConfigDict(extra="forbid")

    debit_account_id: StrictInt = Field(gt=0, le=2**63 - 1)
    credit_account_id: StrictInt = Field(gt=0, le=2**63 - 1)
    amount: StrictInt = Field(gt=0, le=10**15)

    @model_validator(mode="after")
    def _two_accounts(self) -> FloorTransferIn:
        if self.debit_account_id == self.credit_account_id:
            raise ValueError("debit_account_id and credit_account_id must differ")
        return self


@router.post("/floor-transfer", include_in_schema=False)
def floor_transfer(request: HttpRequest, payload: FloorTransferIn) -> Any:
    api_requires(request, "self.transfer")
    # Legs ordered by account id: the same stable lock order as the baseline and entry_post.
    legs = sorted(
        [(payload.debit_account_id, -payload.amount), (payload.credit_account_id, payload.amount)]
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, [legs[0][0], legs[0][1], legs[1][0], legs[1][1]])
    except (IntegrityError, DataError) as exc:
        # unknown account, another currency, a frozen account, not enough money
        diag = getattr(exc.__cause__, "diag", None)
        return error_response(
            422,
            "floor_refused",
            "the ledger refused this posting",
            {"constraint": getattr(diag, "constraint_name", None) or ""},
        )
    return JsonResponse({"posted": True}, status=201)
