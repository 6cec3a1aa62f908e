"""The category of one (request, MoMo) pair, decided from what each side says.

MoMo speaks twice about a reference: through its float statement line (if any) and through
a status read (:class:`Read`). :func:`classify` turns the platform's request, its line and
the read into a :class:`Verdict`, one of:

- ``matched``: both sides agree (both successful with the same signed amount and currency,
  both failed, or both still pending);
- ``missing_at_momo``: the platform says successful or pending but MoMo has no record (no
  line and the status read answers 404, or absent from a statement that covers its time);
- ``missing_on_platform``: a statement line no request claims (a "ghost"; recorded by
  :mod:`.runs`, never classified here);
- ``amount_mismatch``: MoMo's amount or currency differs (amounts are signed from the
  float's point of view: collections +, payouts -, :func:`signed_amount`);
- ``status_mismatch``: final outcomes differ, or one side is final and the other pending.

The verdict also says what to do: nothing, open a case, or (the platform still pending while
MoMo is final: a lost callback) resolve it automatically. Pure: no database, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from lightway.data.momo.models import MomoRequest, RequestStatus
from lightway.data.money import Money, MoneyError, currency
from lightway.data.reconciliation.models import Category, StatementLine
from lightway.integration.momo.port import OPERATIONS, MomoResult, Operation

FINAL = frozenset({"SUCCESSFUL", "FAILED"})
PENDING = RequestStatus.NEW, RequestStatus.ACCEPTED
CATEGORIES: tuple[str, ...] = tuple(Category.values)
UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class Read:
    """The outcome of one status read: ``ok`` (``result`` set), ``not_found`` (404),
    ``error`` (the read failed) or ``skipped`` (not needed, or over the run's bound)."""

    kind: str
    result: MomoResult | None = None
    error: str = ""

    @property
    def status(self) -> str | None:
        return self.result.status if self.kind == "ok" and self.result is not None else None


NOT_READ = Read("skipped")


@dataclass(frozen=True, slots=True)
class Verdict:
    category: str | None  # None: could not be verified (no item)
    action: str  # "none" | "case" | "auto"
    detail: str
    momo_status: str = ""
    momo_amount: int | None = None


def inbound(operation: str, product: str) -> bool:
    """Does money come into the float (collections) for this operation?"""
    try:
        return OPERATIONS[Operation(operation)].inbound
    except ValueError:
        return product == "collection"


def signed_amount(request: MomoRequest) -> int:
    return request.amount if inbound(request.operation, request.product) else -request.amount


def _read_amount(result: MomoResult, request: MomoRequest) -> tuple[int | None, str]:
    """MoMo's amount in a status read as signed minor units (None when absent/unreadable)."""
    code = (result.currency or request.currency or "").upper()
    if result.amount is None:
        return None, code
    try:
        exponent = currency(code).exponent
        value = Decimal(str(result.amount).strip())
    except (MoneyError, InvalidOperation):
        return None, code
    if not value.is_finite():
        return None, code
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        return None, code
    amount = abs(int(minor))
    return (amount if inbound(request.operation, request.product) else -amount), code


def classify(
    *,
    request: MomoRequest,
    line: StatementLine | None,
    read: Read,
    covered: bool,
    within_grace: bool,
) -> Verdict:
    """The category of one (request, MoMo) pair and what to do about it. Pure."""
    plat = request.status
    pending = plat in PENDING
    line_status = line.status if line is not None else None
    read_status = read.status
    if line_status in FINAL and read_status in FINAL and line_status != read_status:
        return Verdict(
            Category.STATUS_MISMATCH,
            "case",
            f"the statement says {line_status} but the status read says {read_status}",
            f"{line_status}/{read_status}",
            line.amount_minor if line is not None else None,
        )
    if read_status in FINAL:
        momo_final: str | None = read_status
    elif line_status in FINAL:
        momo_final = line_status
    else:
        momo_final = None
    shown = read_status or line_status or ("NOT_FOUND" if read.kind == "not_found" else "")
    if momo_final:
        shown = momo_final
    momo_amount: int | None = None
    momo_currency = request.currency
    if line is not None:
        momo_amount, momo_currency = line.amount_minor, line.currency
    elif read.kind == "ok" and read.result is not None:
        momo_amount, momo_currency = _read_amount(read.result, request)

    def verdict(category: str | None, action: str, detail: str) -> Verdict:
        return Verdict(category, action, detail, shown, momo_amount)

    if momo_final == "SUCCESSFUL" and plat != RequestStatus.FAILED and momo_amount is not None:
        expected = signed_amount(request)
        if momo_currency != request.currency or momo_amount != expected:
            return verdict(
                Category.AMOUNT_MISMATCH,
                "case",
                f"MoMo shows {_money(momo_amount, momo_currency)}, the platform "
                f"{_money(expected, request.currency)}",
            )
    if momo_final is not None:
        source = "status read" if read_status in FINAL else "statement"
        if pending:
            return verdict(
                Category.STATUS_MISMATCH,
                "auto",
                f"platform {plat}, MoMo {momo_final} ({source})",
            )
        if plat == RequestStatus.SUCCESSFUL and momo_final == "SUCCESSFUL":
            if line is None and covered:
                return verdict(
                    Category.MISSING_AT_MOMO,
                    "case",
                    "not on the float statement for its period, although the status read "
                    "says SUCCESSFUL",
                )
            how = "statement line" if line is not None else "status read (no statement line)"
            return verdict(Category.MATCHED, "none", f"successful at both ({how})")
        if plat == RequestStatus.FAILED and momo_final == "FAILED":
            return verdict(Category.MATCHED, "none", "failed at both")
        return verdict(
            Category.STATUS_MISMATCH, "case", f"platform {plat}, MoMo {momo_final} ({source})"
        )
    if read.kind == "not_found" and (line is None or line_status not in FINAL):
        if plat == RequestStatus.FAILED:
            return verdict(Category.MATCHED, "none", "failed; MoMo has no record of it")
        if plat == RequestStatus.NEW:
            return verdict(
                Category.MATCHED, "none", "not yet created at MoMo (the flow is still submitting)"
            )
        if plat == RequestStatus.ACCEPTED and within_grace:
            return verdict(
                Category.MATCHED, "none", "accepted moments ago; MoMo may not show it yet"
            )
        return verdict(
            Category.MISSING_AT_MOMO, "case", f"platform {plat}, MoMo answers 404 (no record)"
        )
    if read_status is not None or line_status is not None:  # MoMo: pending / in progress
        if pending:
            return verdict(Category.MATCHED, "none", "pending at both")
        return verdict(
            Category.STATUS_MISMATCH, "case", f"platform {plat}, MoMo still {shown or 'pending'}"
        )
    if plat == RequestStatus.FAILED:
        return verdict(Category.MATCHED, "none", "failed; no statement line")
    reason = read.error or "status not read (the run's bound was reached)"
    return verdict(None, "none", f"could not verify: {reason}")


def _money(amount: int, code: str) -> str:
    try:
        return Money.of(amount, code).format()
    except MoneyError:
        return f"{code} {amount} (minor units)"
