"""Builders for the AML tests: rules in force from a date, customers with wallets."""

from __future__ import annotations

from datetime import datetime, timedelta

from lightway.application.aml.rules import rule_version_add
from lightway.data.aml.models import RuleVersion


def rule(
    code: str,
    kind: str,
    parameters: dict,
    now: datetime,
    *,
    mode: str = "batch",
    action: str = "flag",
    since: timedelta = timedelta(days=400),
) -> RuleVersion:
    return rule_version_add(
        code=code,
        kind=kind,
        effective_from=now - since,
        mode=mode,
        action=action,
        parameters=parameters,
        now=now,
    )
