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


def run_aml_jobs(now: datetime) -> list[tuple[str, str]]:
    """Run the queued ``aml_str_release`` jobs as the worker would (at ``now``)."""
    from lightway.application.aml.cases import case_str_release
    from tests.momo_flow_support import jobs_run

    return jobs_run(
        {
            "aml_str_release": lambda a: case_str_release(
                case_id=a["case_id"], fiu=a["fiu"], actor_id=a["actor_id"], now=now
            )
        }
    )
