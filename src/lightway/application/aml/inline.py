"""The inline AML rules, called by the payment skeleton for every payment before anything
moves. Cheap by construction: the rules in force come from a per-process cache
(``rules.inline_rules``), the customers with an open sanctions hit from another
(:func:`sanctioned_users`), so a payment that triggers nothing costs no query at all.

- ``threshold``: a single payment at or above the market's amount (the market is the home
  market of the payment's currency: the wallet's market) is flagged or refused;
- ``sanctioned_party``: a payer or recipient with an open sanctions hit is refused (or
  flagged).

A flag becomes an alert in the payment's own transaction (the skeleton then takes its
Python path instead of the one-statement one); a refusal is recorded as a failed transfer
with code ``aml_refused`` and an alert in the same transaction. The message does not say
why (no tipping-off).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from lightway.application.aml import rules
from lightway.application.aml.alerts import AlertInput, alert_raise
from lightway.application.errors import PaymentRefused
from lightway.application.kyc.tiers import CURRENCY_HOME
from lightway.data.aml.models import HitStatus, RuleAction, RuleVersion, SanctionsHit
from lightway.data.money import Money

REFUSAL_CODE = "aml_refused"
REFUSAL_MESSAGE = "this payment cannot be made; contact customer support"


@dataclass(frozen=True)
class Finding:
    rule: RuleVersion
    subject_user_id: int
    evidence: dict[str, object]


@dataclass
class InlineOutcome:
    refusal: PaymentRefused | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def flags(self) -> bool:
        return bool(self.findings)


def enabled() -> bool:
    return bool(getattr(settings, "LIGHTWAY_AML_INLINE", True))


# --- customers with an open sanctions hit, cached per process ------------------------------------

_sanctioned: tuple[float, frozenset[int]] | None = None
_lock = threading.Lock()


def sanctioned_cache_clear() -> None:
    global _sanctioned
    _sanctioned = None


def aml_caches_clear() -> None:
    """Forget the cached rules and sanctioned customers (tests; a new rule version or a
    new hit clears them in the process that wrote it)."""
    rules.rules_cache_clear()
    sanctioned_cache_clear()


def sanctioned_users() -> frozenset[int]:
    global _sanctioned
    cached = _sanctioned
    if cached is None or time.monotonic() - cached[0] > rules.cache_seconds():
        with _lock:
            users = frozenset(
                SanctionsHit.objects.filter(status=HitStatus.OPEN, user__isnull=False)
                .values_list("user_id", flat=True)
                .distinct()
            )
            cached = _sanctioned = (time.monotonic(), users)
    return cached[1]


# --- the check -----------------------------------------------------------------------------------


def inline_check(
    *, kind: str, client_id: int, money: Money, recipient_id: int | None, now: datetime
) -> InlineOutcome:
    outcome = InlineOutcome()
    if not enabled():
        return outcome
    for rule in rules.inline_rules(at=now):
        finding = _evaluate(rule, kind, client_id, money, recipient_id)
        if finding is None:
            continue
        outcome.findings.append(finding)
        if rule.action == RuleAction.REFUSE and outcome.refusal is None:
            outcome.refusal = PaymentRefused(
                REFUSAL_CODE, REFUSAL_MESSAGE, details={"rule": rule.code}
            )
    return outcome


def _evaluate(
    rule: RuleVersion, kind: str, client_id: int, money: Money, recipient_id: int | None
) -> Finding | None:
    if rule.kind == "threshold":
        market = CURRENCY_HOME.get(money.currency.code)
        limit = rule.parameters.get("countries", {}).get(market or "", {}).get("amount")
        if limit is None or money.amount < int(limit):
            return None
        return Finding(
            rule,
            client_id,
            {
                "market": market,
                "currency": money.currency.code,
                "amount": money.amount,
                "threshold": int(limit),
                "transfer_kind": kind,
            },
        )
    if rule.kind == "sanctioned_party":
        listed = sanctioned_users()
        if not listed:
            return None
        parties = [p for p in (client_id, recipient_id) if p is not None and p in listed]
        if not parties:
            return None
        role = "payer" if client_id in parties else "recipient"
        return Finding(
            rule,
            parties[0],
            {"party": role, "transfer_kind": kind, "currency": money.currency.code},
        )
    return None


def findings_record(outcome: InlineOutcome, *, transfer_id: uuid.UUID, now: datetime) -> None:
    """The alerts of ``outcome``'s findings for transfer ``transfer_id``, in the caller's
    (the payment's) transaction."""
    for finding in outcome.findings:
        alert_raise(
            AlertInput(
                rule=finding.rule,
                subject_ref=f"user:{finding.subject_user_id}",
                subject_user_id=finding.subject_user_id,
                dedupe=f"transfer:{transfer_id}",
                evidence={
                    **finding.evidence,
                    "rule_version": finding.rule.version,
                    "refused": finding.rule.action == RuleAction.REFUSE,
                },
                transfer_ids=(transfer_id,),
                score=100.0,
            ),
            now=now,
        )
