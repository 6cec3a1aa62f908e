"""CSV returns for central banks, from the same data as the goAML files.

- ``large-transactions``: every moved transfer at or above the FIU's threshold of its
  currency (every currency with a threshold, not only the local one) in the period: the
  monthly large-transactions return most central banks ask of e-money issuers.
- ``str-register``: the STRs filed for the FIU in the period (reference, case, date,
  transactions, amount, SHA-256 of the file filed): the register a supervisor inspects.

Written with the ``csv`` module (UTF-8, text cells neutralised against spreadsheet
formulas by ``reports.cells.csv_safe``, a header row, ``\\r\\n`` line ends), amounts as
decimals from minor units, dates in the FIU's local time. The file is sealed and recorded
like the XML files (:func:`lightway.application.goaml.service.goaml_store_return`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from lightway.application.errors import ValidationFailed
from lightway.application.goaml.build import Side, amount_text, date_text
from lightway.application.goaml.config import fiu_config_in_force
from lightway.application.goaml.facts import ctr_transfers, period_bounds, transactions_resolve
from lightway.application.goaml.service import Released, goaml_store_return, period_check
from lightway.application.reports.cells import csv_safe
from lightway.data.goaml.models import FileKind, GoamlFile
from lightway.data.wallets.models import Transfer

RETURNS = (FileKind.RETURN_LARGE.value, FileKind.RETURN_STR.value)
BATCH = 500
LARGE_HEADER = [
    "transaction_id",
    "date_local",
    "kind",
    "currency",
    "amount",
    "threshold",
    "from_account",
    "from_name",
    "to_account",
    "to_name",
]
STR_HEADER = [
    "reference",
    "case_reference",
    "filed_at_local",
    "period_start",
    "period_end",
    "transactions",
    "currency",
    "amount_total",
    "sha256",
]


def _who(side: Side) -> tuple[str, str]:
    if side.kind == "entity":
        return "", side.entity_name
    return side.account, side.holder.full_name if side.holder else ""


def _large(
    writer: csv.DictWriter[str], fiu: str, start: date, end: date, progress: Callable[[int], None]
) -> int:
    config = fiu_config_in_force(fiu=fiu, on=end)
    tz = ZoneInfo(config.timezone)
    lo, hi = period_bounds(start=start, end=end, tz=tz)
    count = 0
    thresholds: dict[str, int] = dict(config.ctr_thresholds)
    for code in sorted(thresholds):
        batch = []
        for transfer in ctr_transfers(currency=code, threshold=thresholds[code], start=lo, end=hi):
            batch.append(transfer)
            if len(batch) >= BATCH:
                count += _write_large(writer, batch, tz, thresholds)
                progress(count)
                batch = []
        if batch:
            count += _write_large(writer, batch, tz, thresholds)
            progress(count)
    return count


def _write_large(
    writer: csv.DictWriter[str], batch: list[Transfer], tz: ZoneInfo, thresholds: dict[str, int]
) -> int:
    txns = transactions_resolve(batch)
    for txn in txns:
        from_account, from_name = _who(txn.source)
        to_account, to_name = _who(txn.destination)
        writer.writerow(
            {
                "transaction_id": txn.number,
                "date_local": date_text(txn.at, tz),
                "kind": txn.kind,
                "currency": txn.currency,
                "amount": amount_text(txn.amount, txn.currency),
                "threshold": amount_text(thresholds[txn.currency], txn.currency),
                "from_account": csv_safe(from_account),
                "from_name": csv_safe(from_name),
                "to_account": csv_safe(to_account),
                "to_name": csv_safe(to_name),
            }
        )
    return len(txns)


def _str_register(writer: csv.DictWriter[str], fiu: str, start: date, end: date) -> int:
    config = fiu_config_in_force(fiu=fiu, on=end)
    tz = ZoneInfo(config.timezone)
    lo, hi = period_bounds(start=start, end=end, tz=tz)
    rows = (
        GoamlFile.objects.filter(fiu=fiu, kind=FileKind.STR, created_at__gte=lo, created_at__lt=hi)
        .defer("content_ct")
        .order_by("created_at", "id")
    )
    count = 0
    for row in rows.iterator(chunk_size=BATCH):
        writer.writerow(
            {
                "reference": row.reference,
                "case_reference": csv_safe(row.case_reference),
                "filed_at_local": date_text(row.created_at, tz),
                "period_start": row.period_start.isoformat(),
                "period_end": row.period_end.isoformat(),
                "transactions": row.transactions,
                "currency": row.currency,
                "amount_total": amount_text(row.amount_total, row.currency),
                "sha256": row.sha256,
            }
        )
        count += 1
    return count


def goaml_return(
    *,
    kind: str,
    fiu: str,
    start: date,
    end: date,
    actor: str,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> Released | None:
    """Build, seal and record one CSV return; None when the period has no row."""
    if kind not in RETURNS:
        raise ValidationFailed(
            f"unknown return {kind!r} (known: {', '.join(RETURNS)})", details={"field": "kind"}
        )
    period_check(start=start, end=end)
    fiu_config_in_force(fiu=fiu, on=end)  # an unknown FIU fails before any work
    text = io.StringIO(newline="")
    header = LARGE_HEADER if kind == FileKind.RETURN_LARGE else STR_HEADER
    writer = csv.DictWriter(text, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    if kind == FileKind.RETURN_LARGE:
        rows = _large(writer, fiu, start, end, progress or (lambda _n: None))
    else:
        rows = _str_register(writer, fiu, start, end)
    if rows == 0:
        return None
    return goaml_store_return(
        fiu=fiu,
        kind=kind,
        start=start,
        end=end,
        content=text.getvalue().encode("utf-8"),
        rows=rows,
        actor=actor,
        now=now,
    )
