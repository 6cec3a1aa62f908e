"""Per-FIU configuration of the goAML export, versioned by effective date.

An FIU (``demo``, ``uganda-fia``, ...) has one or more versions; each names the schema
version and the XSD to validate against, its report codes, the mapping from the
platform's indicators (AML rule codes) to the FIU's indicator codes, the CTR threshold
per currency, the reporting entity id and the lookup codes the files need. The version in
force on a report's date (the last day of its period) is the one with the latest
``effective_from`` on or before it (:func:`fiu_config_in_force`).

:func:`fiu_config_create` checks every code against the lookup lists of the FIU's own XSD
(read from the file, section 2.5 of the compliance notes) and fails fast with the list of
what is wrong, so a configuration that would produce invalid files is never stored.
Versions are never edited (the database refuses it, migration goaml 0002): a change is a
new version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.goaml.schema import SHIPPED_SCHEMAS, schema_enumeration
from lightway.data.audit.services import audit_record
from lightway.data.goaml.models import FiuConfig
from lightway.data.money import currency_codes

REPORTS = ("STR", "CTR")
_FIU_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class Code:
    lookup: str | None  # the XSD simple type the value must be in, None for free text
    help: str


# The keys of ``FiuConfig.codes``: lookups from the FIU's XSD and fixed header values.
CODES: dict[str, Code] = {
    "institution_name": Code(None, "our name as registered with the FIU"),
    "institution_code": Code(None, "our licence / institution code issued by the FIU"),
    "branch": Code(None, "branch written on our wallets (e.g. Head office)"),
    "transaction_location": Code(None, "where our transactions take place (e.g. Mobile app)"),
    "momo_institution_name": Code(None, "the mobile-money operator's name (MoMo side)"),
    "momo_institution_code": Code(None, "the mobile-money operator's institution code"),
    "country": Code("country_type", "country of our wallets and transactions (ISO 3166)"),
    "transmode_code": Code("conduction_type", "how a wallet transaction is conducted"),
    "transmode_comment": Code(None, "the FIU's conduction comment (UAE: one character)"),
    "funds_code_wallet": Code("funds_type", "funds type of a wallet-to-wallet side"),
    "funds_code_momo": Code("funds_type", "funds type of a mobile-money side"),
    "contact_type": Code("contact_type", "contact type of a customer's phone"),
    "communication_type": Code("communication_type", "communication type of a mobile phone"),
    "signatory_role": Code("account_person_role_type", "role of a wallet's holder"),
    "account_type": Code("account_type", "personal account type of a wallet"),
}


@dataclass(frozen=True)
class FiuConfigInput:
    fiu: str
    effective_from: date
    fiu_name: str
    xsd_file: str
    timezone: str
    rentity_id: int
    currency_code_local: str
    report_codes: dict[str, str]
    ctr_thresholds: dict[str, int]
    codes: dict[str, str]
    indicator_codes: dict[str, list[str]]
    ctr_indicators: list[str]
    rentity_branch: str = ""
    submission_code: str = "E"
    ctr_batch_size: int = 500
    # the daily job (``goaml_ctr_daily``) exports each complete local day's CTRs
    ctr_daily: bool = False


def fiu_config_problems(data: FiuConfigInput) -> list[str]:
    """Everything wrong with a configuration, checked against the FIU's XSD lookups."""
    problems: list[str] = []
    if not _FIU_RE.match(data.fiu):
        problems.append("fiu: lower-case letters, digits and '-', at most 40")
    if data.xsd_file not in SHIPPED_SCHEMAS:
        known = ", ".join(sorted(SHIPPED_SCHEMAS))
        return [*problems, f"xsd_file: {data.xsd_file!r} is not a shipped schema ({known})"]
    xsd = data.xsd_file

    def lookup(type_name: str, value: str, where: str) -> None:
        allowed = schema_enumeration(xsd, type_name)
        if value not in allowed:
            problems.append(f"{where}: {value!r} is not in the schema's {type_name} list")

    try:
        ZoneInfo(data.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: {data.timezone!r} is not a known time zone")
    if data.rentity_id < 1:
        problems.append("rentity_id: must be at least 1")
    if not 1 <= data.ctr_batch_size <= 100_000:
        problems.append("ctr_batch_size: between 1 and 100000")
    if not isinstance(data.ctr_daily, bool):
        problems.append("ctr_daily: true or false")
    lookup("submission_type", data.submission_code, "submission_code")
    lookup("currency_type", data.currency_code_local, "currency_code_local")
    for report in REPORTS:
        code = data.report_codes.get(report)
        if not code:
            problems.append(f"report_codes: no code for {report}")
        else:
            lookup("report_type", code, f"report_codes.{report}")
    for extra in sorted(set(data.report_codes) - set(REPORTS)):
        problems.append(f"report_codes: {extra!r} is not a report the platform makes")
    platform_currencies = currency_codes()
    if not data.ctr_thresholds:
        problems.append("ctr_thresholds: give at least one currency's threshold")
    for cur, threshold in data.ctr_thresholds.items():
        if cur not in platform_currencies:
            problems.append(f"ctr_thresholds: {cur!r} is not a platform currency")
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
            problems.append(f"ctr_thresholds.{cur}: a whole number of minor units, at least 1")
    for key, spec in CODES.items():
        value = data.codes.get(key, "")
        if not isinstance(value, str) or not value.strip():
            problems.append(f"codes.{key}: missing ({spec.help})")
        elif spec.lookup:
            lookup(spec.lookup, value, f"codes.{key}")
    for extra in sorted(set(data.codes) - set(CODES)):
        problems.append(f"codes: unknown key {extra!r}")
    for indicator, fiu_codes in data.indicator_codes.items():
        if not fiu_codes:
            problems.append(f"indicator_codes.{indicator}: maps to no FIU code")
        for code in fiu_codes:
            lookup("report_indicator_type", code, f"indicator_codes.{indicator}")
    for code in data.ctr_indicators:
        lookup("report_indicator_type", code, "ctr_indicators")
    return problems


def fiu_config_create(*, data: FiuConfigInput, actor: str, now: datetime) -> FiuConfig:
    """Store a new version (audited); :class:`ValidationFailed` lists every problem."""
    problems = fiu_config_problems(data)
    if problems:
        raise ValidationFailed(
            f"FIU configuration {data.fiu!r} is not valid: " + "; ".join(problems),
            details={"problems": problems},
        )
    try:
        with transaction.atomic():
            row = FiuConfig.objects.create(
                fiu=data.fiu,
                effective_from=data.effective_from,
                fiu_name=data.fiu_name,
                schema_version=SHIPPED_SCHEMAS[data.xsd_file],
                xsd_file=data.xsd_file,
                timezone=data.timezone,
                rentity_id=data.rentity_id,
                rentity_branch=data.rentity_branch,
                submission_code=data.submission_code,
                currency_code_local=data.currency_code_local,
                report_codes=dict(data.report_codes),
                indicator_codes={k: list(v) for k, v in data.indicator_codes.items()},
                ctr_indicators=list(data.ctr_indicators),
                ctr_thresholds=dict(data.ctr_thresholds),
                ctr_batch_size=data.ctr_batch_size,
                ctr_daily=data.ctr_daily,
                codes=dict(data.codes),
                created_at=now,
                created_by=actor,
            )
            audit_record(
                actor=actor,
                action="goaml.config.create",
                object_type="goaml.fiu_config",
                object_id=str(row.pk),
                data={
                    "fiu": row.fiu,
                    "effective_from": row.effective_from.isoformat(),
                    "schema_version": row.schema_version,
                    "xsd_file": row.xsd_file,
                    "ctr_daily": row.ctr_daily,
                },
                now=now,
            )
    except IntegrityError:
        raise ValidationFailed(
            f"FIU {data.fiu!r} already has a version from {data.effective_from.isoformat()}"
        ) from None
    return row


def fiu_config_in_force(*, fiu: str, on: date) -> FiuConfig:
    """The version of ``fiu`` in force on ``on`` (one index lookup)."""
    row = (
        FiuConfig.objects.filter(fiu=fiu, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )
    if row is not None:
        return row
    if FiuConfig.objects.filter(fiu=fiu).exists():
        raise NotFound(f"FIU {fiu!r} has no configuration in force on {on.isoformat()}")
    known = ", ".join(fiu_names()) or "none configured"
    raise NotFound(f"unknown FIU {fiu!r} (known: {known})")


def fiu_names() -> list[str]:
    return sorted(set(FiuConfig.objects.values_list("fiu", flat=True)))


def fiu_config_input(raw: dict[str, Any]) -> FiuConfigInput:
    """A configuration from plain data (demo, fixtures); types are checked by create."""
    values = dict(raw)
    values["effective_from"] = (
        values["effective_from"]
        if isinstance(values["effective_from"], date)
        else date.fromisoformat(str(values["effective_from"]))
    )
    return FiuConfigInput(**values)
