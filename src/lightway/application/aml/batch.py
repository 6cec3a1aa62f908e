"""The batch AML rules, run over a period by the periodic job and ``lightway aml run``.

A period is cut into windows aligned on multiples of each rule's ``window_hours`` since the
Unix epoch, so the same transfer always falls in the same window whatever period is asked;
a window's alerts are keyed by (rule, subject, window) and re-running it adds nothing. Each
window is one range of the ``transfer_created`` index (succeeded transfers only); the
dormant rule adds one indexed look-back per candidate (``transfer_client_keyset`` and
``transfer_incoming_keyset``). The version of a rule that applies to a window is the one
in force at the window's start.

- ``structuring``: at least ``min_count`` payments by one payer in the window, each just
  below the market's threshold (within ``band_percent`` of it);
- ``velocity``: more than ``max_count`` payments by one payer in the window, or more than
  the market's ``max_value`` in total;
- ``fan_in`` / ``fan_out``: at least ``min_counterparties`` distinct customers paying one
  customer (in) or paid by one customer (out) in the window, wallet to wallet;
- ``round_trip``: money going A -> B (-> C ...) -> A within the window, each hop later
  than the one before, up to ``max_hops`` hops;
- ``dormant``: a customer with no transfer for ``dormant_days`` before the window who then
  moves at least the market's ``min_value`` in it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lightway.application.aml.alerts import AlertInput, alerts_raise
from lightway.application.aml.rules import rule_in_force
from lightway.application.kyc.tiers import CURRENCY_HOME
from lightway.data.aml.models import RuleMode, RuleVersion
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus, Wallet

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OUTGOING = {TransferKind.P2P, TransferKind.WITHDRAWAL, TransferKind.PAYOUT}
Window = tuple[datetime, datetime]
BATCH_KINDS = ("structuring", "velocity", "fan_in", "fan_out", "round_trip", "dormant")


@dataclass(frozen=True)
class Move:
    id: uuid.UUID
    kind: str
    payer: int | None  # the customer paying (P2P, withdrawal, payout), else None
    payee: int | None  # the customer credited (P2P, deposit, remittance), else None
    currency: str
    amount: int
    at: datetime

    @property
    def market(self) -> str:
        return CURRENCY_HOME.get(self.currency, "")


def windows(start: datetime, end: datetime, hours: int) -> Iterator[tuple[datetime, datetime]]:
    size = timedelta(hours=hours)
    first = EPOCH + ((start - EPOCH) // size) * size
    at = first
    while at < end:
        yield at, at + size
        at += size


def window_moves(start: datetime, end: datetime) -> list[Move]:
    rows = (
        Transfer.objects.filter(
            created_at__gte=start, created_at__lt=end, status=TransferStatus.SUCCEEDED
        )
        .order_by("created_at", "id")
        .values_list(
            "id",
            "kind",
            "client_id",
            "destination_wallet__owner_id",
            "currency",
            "amount",
            "created_at",
        )
    )
    moves = []
    for tid, kind, client, payee, code, amount, at in rows.iterator(chunk_size=5000):
        payer = client if kind in OUTGOING else None
        moves.append(Move(tid, kind, payer, payee, code, amount, at))
    return moves


def _alert(
    rule: RuleVersion,
    user_id: int,
    window: Window,
    evidence: dict[str, object],
    moves: list[Move],
    *,
    extra: str = "",
    score: float = 0.0,
) -> AlertInput:
    return AlertInput(
        rule=rule,
        subject_ref=f"user:{user_id}",
        subject_user_id=user_id,
        dedupe=f"window:{window[0].isoformat()}/{window[1].isoformat()}{extra}",
        evidence={
            **evidence,
            "rule_version": rule.version,
            "window": [window[0].isoformat(), window[1].isoformat()],
            "transfers": len(moves),
        },
        transfer_ids=tuple(m.id for m in moves[:200]),
        score=score,
        window_start=window[0],
        window_end=window[1],
    )


# --- the rules -----------------------------------------------------------------------------------


def structuring(rule: RuleVersion, window: Window, moves: list[Move]) -> list[AlertInput]:
    p = rule.parameters
    by_payer: dict[tuple[int, str], list[Move]] = defaultdict(list)
    for m in moves:
        limit = p["countries"].get(m.market, {}).get("threshold")
        if m.payer is None or limit is None:
            continue
        floor = limit - limit * p["band_percent"] // 100
        if floor <= m.amount < limit:
            by_payer[(m.payer, m.currency)].append(m)
    return [
        _alert(
            rule,
            payer,
            window,
            {
                "currency": code,
                "threshold": p["countries"][CURRENCY_HOME[code]]["threshold"],
                "band_percent": p["band_percent"],
                "count": len(found),
                "total": sum(m.amount for m in found),
            },
            found,
            extra=f":{code}",
            score=float(len(found)),
        )
        for (payer, code), found in by_payer.items()
        if len(found) >= p["min_count"]
    ]


def velocity(rule: RuleVersion, window: Window, moves: list[Move]) -> list[AlertInput]:
    p = rule.parameters
    by_payer: dict[int, list[Move]] = defaultdict(list)
    for m in moves:
        if m.payer is not None:
            by_payer[m.payer].append(m)
    out = []
    for payer, found in by_payer.items():
        totals: dict[str, int] = defaultdict(int)
        for m in found:
            totals[m.currency] += m.amount
        over_value = {
            code: total
            for code, total in totals.items()
            if (cap := p["countries"].get(CURRENCY_HOME.get(code, ""), {}).get("max_value"))
            and total > cap
        }
        if len(found) > p["max_count"] or over_value:
            out.append(
                _alert(
                    rule,
                    payer,
                    window,
                    {
                        "count": len(found),
                        "max_count": p["max_count"],
                        "totals": dict(totals),
                        "over_value": over_value,
                    },
                    found,
                    score=float(len(found)),
                )
            )
    return out


def _fan(
    rule: RuleVersion, window: Window, moves: list[Move], *, inbound: bool
) -> list[AlertInput]:
    p = rule.parameters
    groups: dict[int, dict[int, list[Move]]] = defaultdict(lambda: defaultdict(list))
    for m in moves:
        if m.kind != TransferKind.P2P or m.payer is None or m.payee is None:
            continue
        hub, other = (m.payee, m.payer) if inbound else (m.payer, m.payee)
        groups[hub][other].append(m)
    out = []
    for hub, parties in groups.items():
        if len(parties) >= p["min_counterparties"]:
            found = [m for ms in parties.values() for m in ms]
            out.append(
                _alert(
                    rule,
                    hub,
                    window,
                    {
                        "direction": "in" if inbound else "out",
                        "counterparties": len(parties),
                        "min_counterparties": p["min_counterparties"],
                    },
                    found,
                    score=float(len(parties)),
                )
            )
    return out


def fan_in(rule: RuleVersion, window: Window, moves: list[Move]) -> list[AlertInput]:
    return _fan(rule, window, moves, inbound=True)


def fan_out(rule: RuleVersion, window: Window, moves: list[Move]) -> list[AlertInput]:
    return _fan(rule, window, moves, inbound=False)


def round_trip(rule: RuleVersion, window: Window, moves: list[Move]) -> list[AlertInput]:
    """Cycles A -> ... -> A of P2P payments, each hop after the previous one."""
    max_hops = rule.parameters["max_hops"]
    edges: dict[int, list[Move]] = defaultdict(list)
    for m in moves:
        if m.kind == TransferKind.P2P and m.payer is not None and m.payee is not None:
            if m.payer != m.payee:
                edges[m.payer].append(m)
    found: dict[int, list[Move]] = {}

    def walk(origin: int, node: int, after: datetime, path: list[Move]) -> list[Move] | None:
        if len(path) >= max_hops:
            return None
        for m in edges.get(node, ()):
            # each hop strictly after the one before (the first one: in the window)
            if m.at < after or (path and m.at <= after) or any(m.id == x.id for x in path):
                continue
            if m.payee == origin and path:
                return [*path, m]
            if m.payee in {x.payer for x in path} or m.payee == origin:
                continue
            cycle = walk(origin, m.payee, m.at, [*path, m])  # type: ignore[arg-type]
            if cycle:
                return cycle
        return None

    for origin in list(edges):
        if origin in found:
            continue
        cycle = walk(origin, origin, window[0], [])
        if cycle:
            found[origin] = cycle
    return [
        _alert(
            rule,
            origin,
            window,
            {
                "hops": len(cycle),
                "path": [f"user:{m.payer}" for m in cycle] + [f"user:{origin}"],
                "amounts": [m.amount for m in cycle],
                "currency": cycle[0].currency,
            },
            cycle,
            score=float(len(cycle)),
        )
        for origin, cycle in found.items()
    ]


def dormant(rule: RuleVersion, window: Window, moves: list[Move]) -> list[AlertInput]:
    p = rule.parameters
    quiet_since = window[0] - timedelta(days=p["dormant_days"])
    by_user: dict[int, list[Move]] = defaultdict(list)
    for m in moves:
        for user in {m.payer, m.payee} - {None}:
            by_user[user].append(m)  # type: ignore[index]
    out = []
    for user, found in by_user.items():
        totals: dict[str, int] = defaultdict(int)
        for m in found:
            totals[m.currency] += m.amount
        over = {
            code: total
            for code, total in totals.items()
            if (floor := p["countries"].get(CURRENCY_HOME.get(code, ""), {}).get("min_value"))
            and total >= floor
        }
        if not over:
            continue
        wallets = list(Wallet.objects.filter(owner_id=user).values_list("id", "created_at"))
        if not wallets or min(at for _, at in wallets) > quiet_since:
            continue  # a new customer, not a dormant one
        last_out = (
            Transfer.objects.filter(client_id=user, created_at__lt=window[0])
            .order_by("-created_at", "-id")
            .values_list("created_at", flat=True)
            .first()
        )
        last_in = None
        for wallet_id, _ in wallets:
            at = (
                Transfer.objects.filter(destination_wallet_id=wallet_id, created_at__lt=window[0])
                .order_by("-created_at", "-id")
                .values_list("created_at", flat=True)
                .first()
            )
            if at is not None and (last_in is None or at > last_in):
                last_in = at
        last = max([t for t in (last_out, last_in) if t is not None], default=None)
        if last is not None and last >= quiet_since:
            continue
        out.append(
            _alert(
                rule,
                user,
                window,
                {
                    "dormant_days": p["dormant_days"],
                    "last_activity": last.isoformat() if last else None,
                    "totals": over,
                },
                found,
                score=float(sum(over.values())),
            )
        )
    return out


RULES: dict[str, Callable[[RuleVersion, Window, list[Move]], list[AlertInput]]] = {
    "structuring": structuring,
    "velocity": velocity,
    "fan_in": fan_in,
    "fan_out": fan_out,
    "round_trip": round_trip,
    "dormant": dormant,
}


# --- the run -------------------------------------------------------------------------------------


@dataclass
class RunResult:
    windows: int = 0
    transfers: int = 0
    alerts: int = 0


def aml_run(
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
    complete_only: bool = False,
) -> RunResult:
    """Run every batch rule over ``[start, end)`` (see the module docstring). ``progress``
    is called with (windows done, windows in all). ``complete_only``: only windows that
    ended by ``now`` (the periodic job: a window's alert is raised once it is whole)."""
    codes = sorted(
        set(
            RuleVersion.objects.filter(mode=RuleMode.BATCH, kind__in=BATCH_KINDS).values_list(
                "code", flat=True
            )
        )
    )
    plan: list[tuple[str, datetime, datetime]] = []
    for code in codes:
        latest = rule_in_force(code=code, at=min(end, now))
        hours = int(latest.parameters.get("window_hours", 24)) if latest else 24
        plan.extend(
            (code, ws, we)
            for ws, we in windows(start, end, hours)
            if not complete_only or we <= now
        )
    plan.sort(key=lambda item: (item[1], item[2], item[0]))
    result = RunResult()
    cache: dict[tuple[datetime, datetime], list[Move]] = {}
    for done, (code, ws, we) in enumerate(plan, start=1):
        version = rule_in_force(code=code, at=ws)
        if version is not None and version.enabled and version.kind in RULES:
            if (ws, we) not in cache:
                cache.clear()
                cache[(ws, we)] = window_moves(ws, we)
                result.transfers += len(cache[(ws, we)])
            alerts = RULES[version.kind](version, (ws, we), cache[(ws, we)])
            result.alerts += alerts_raise(alerts, now=now)
        result.windows += 1
        if progress is not None:
            progress(done, len(plan))
    return result
