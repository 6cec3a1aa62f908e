"""Statement lines paired with the platform's MoMo requests.

A line is paired with a request by X-Reference-Id, else financialTransactionId, else
externalId (only when exactly one request carries it: MoMo does not make it unique).
Requests and lines outside the window are pulled in when a line (request) inside it refers
to them, since MoMo's clock and ours differ. A line no request claims is a "ghost".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lightway.application.momo.reconciliation.classification import NOT_READ, Read
from lightway.data.momo.models import MomoRequest
from lightway.data.reconciliation.models import StatementLine
from lightway.data.reconciliation.selectors import momo_requests_matching, statement_lines_matching


@dataclass
class Pair:
    """One platform request with the statement line paired to it (if any) and, once a run
    has read it, MoMo's status."""

    request: MomoRequest
    line: StatementLine | None = None
    read: Read = NOT_READ


def requests_match(
    *, requests: list[MomoRequest], lines: list[StatementLine]
) -> tuple[list[Pair], list[StatementLine]]:
    """Pair window requests and window lines; pull in requests (lines) outside the window
    that window lines (requests) refer to. Returns the pairs and the unclaimed lines."""
    pairs: dict[int, Pair] = {r.pk: Pair(r) for r in requests}
    index = _RequestIndex(requests)
    unclaimed: list[StatementLine] = []
    for line in lines:
        request = index.find(line)
        if request is None:
            unclaimed.append(line)
        else:
            index.claim(request)
            pairs[request.pk].line = line
    if unclaimed:  # requests created before (or after) the window
        outside = momo_requests_matching(
            reference_ids=[ln.reference_id for ln in unclaimed],
            financial_ids=[ln.financial_transaction_id for ln in unclaimed],
            external_ids=[ln.external_id for ln in unclaimed if not ln.reference_id],
        )
        index.add([r for r in outside if r.pk not in pairs])
        ghosts = []
        for line in unclaimed:
            request = index.find(line)
            if request is None:
                ghosts.append(line)
                continue
            index.claim(request)
            pairs.setdefault(request.pk, Pair(request)).line = line
        unclaimed = ghosts
    lonely = [p.request for p in pairs.values() if p.line is None]
    if lonely:  # their lines may sit outside the window (MoMo's time differs from ours)
        used = {p.line.pk for p in pairs.values() if p.line is not None} | {
            ln.pk for ln in unclaimed
        }
        candidates = [
            ln
            for ln in statement_lines_matching(
                reference_ids=[str(r.reference_id) for r in lonely],
                financial_ids=[r.financial_transaction_id for r in lonely],
                external_ids=[r.external_id for r in lonely],
            )
            if ln.pk not in used
        ]
        line_index = _LineIndex(candidates)
        for request in lonely:
            found = line_index.find(request)
            if found is not None:
                line_index.claim(found)
                pairs[request.pk].line = found
    ordered = sorted(pairs.values(), key=lambda p: (p.request.created_at, p.request.pk))
    return ordered, unclaimed


class _RequestIndex:
    def __init__(self, requests: Iterable[MomoRequest]):
        self.by_ref: dict[str, MomoRequest] = {}
        self.by_fin: dict[str, MomoRequest] = {}
        self.by_ext: dict[str, list[MomoRequest]] = {}
        self.claimed: set[int] = set()
        self.add(requests)

    def add(self, requests: Iterable[MomoRequest]) -> None:
        for r in requests:
            self.by_ref[str(r.reference_id)] = r
            if r.financial_transaction_id:
                self.by_fin[r.financial_transaction_id] = r
            if r.external_id:
                self.by_ext.setdefault(r.external_id, []).append(r)

    def claim(self, request: MomoRequest) -> None:
        self.claimed.add(request.pk)

    def _free(self, request: MomoRequest | None) -> MomoRequest | None:
        return request if request is not None and request.pk not in self.claimed else None

    def find(self, line: StatementLine) -> MomoRequest | None:
        if line.reference_id:
            found = self._free(self.by_ref.get(line.reference_id))
            if found is not None:
                return found
        found = self._free(self.by_fin.get(line.financial_transaction_id))
        if found is not None:
            return found
        if line.external_id and not line.reference_id:
            candidates = [
                r
                for r in self.by_ext.get(line.external_id, [])
                if r.pk not in self.claimed
                and r.financial_transaction_id in ("", line.financial_transaction_id)
            ]
            if len(candidates) == 1:
                return candidates[0]
        return None


class _LineIndex:
    def __init__(self, lines: Iterable[StatementLine]):
        self.by_ref: dict[str, StatementLine] = {}
        self.by_fin: dict[str, StatementLine] = {}
        self.by_ext: dict[str, list[StatementLine]] = {}
        self.claimed: set[int] = set()
        for ln in lines:
            if ln.reference_id:
                self.by_ref.setdefault(ln.reference_id, ln)
            self.by_fin.setdefault(ln.financial_transaction_id, ln)
            if ln.external_id and not ln.reference_id:
                self.by_ext.setdefault(ln.external_id, []).append(ln)

    def claim(self, line: StatementLine) -> None:
        self.claimed.add(line.pk)

    def find(self, request: MomoRequest) -> StatementLine | None:
        for line in (
            self.by_ref.get(str(request.reference_id)),
            self.by_fin.get(request.financial_transaction_id)
            if request.financial_transaction_id
            else None,
        ):
            if line is not None and line.pk not in self.claimed:
                return line
        candidates = [
            ln for ln in self.by_ext.get(request.external_id, []) if ln.pk not in self.claimed
        ]
        return candidates[0] if len(candidates) == 1 else None
