"""Retention policies: the version in force for (data class, country, date), new versions.

A version is never edited: a change is a new row whose ``effective_from`` is today or later
(the database refuses anything else, ``data/retention/migrations/0002_guards.py``). The
version in force is the latest one of the country that has started, else the latest one of
the default (``country = ""``); each is one probe of the unique index
``(data_class, country, effective_from)``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction

from lightway.application.errors import ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.data.audit.services import audit_record
from lightway.data.retention.models import AML_MINIMUM_YEARS, DataClass, RetentionPolicy


def years_before(moment: datetime, years: int) -> datetime:
    """``moment`` ``years`` calendar years earlier (29 February becomes the 28th)."""
    year = moment.year - years
    day = min(moment.day, calendar.monthrange(year, moment.month)[1])
    return moment.replace(year=year, day=day)


def policy_cutoff(policy: RetentionPolicy, *, now: datetime) -> datetime:
    """What ended before this moment has been kept for the policy's whole period."""
    from datetime import timedelta

    return years_before(now, policy.years) - timedelta(days=policy.days)


def policy_in_force(*, data_class: str, country: str, on: date) -> RetentionPolicy | None:
    """The version in force on ``on`` for ``country`` (its own, else the default)."""
    for code in dict.fromkeys([country.upper(), ""]):
        row = (
            RetentionPolicy.objects.filter(
                data_class=data_class, country=code, effective_from__lte=on
            )
            .order_by("-effective_from")
            .first()
        )
        if row is not None:
            return row
    return None


def policy_countries() -> list[str]:
    """Every market and every country that has a policy of its own, sorted."""
    own = RetentionPolicy.objects.exclude(country="").values_list("country", flat=True)
    return sorted(set(MARKETS) | set(own.distinct()))


@dataclass(frozen=True)
class PolicyView:
    data_class: str
    label: str
    country: str  # "" = default
    years: int
    days: int
    effective_from: date
    legal_source: str
    own: bool  # the country's own version (False: the default applies)

    @property
    def period(self) -> str:
        parts = []
        if self.years:
            parts.append(f"{self.years} year{'s' if self.years != 1 else ''}")
        if self.days:
            parts.append(f"{self.days} day{'s' if self.days != 1 else ''}")
        return " ".join(parts)


def policies_in_force(*, on: date) -> list[PolicyView]:
    """For the page: every class for the default and each country, the version in force.

    Two queries whatever the number of countries and classes (the countries, then the latest
    started version of each (class, country): ``DISTINCT ON``); the choice per class and
    country is ``policy_in_force``'s (the country's own version, else the default)."""
    countries = ["", *policy_countries()]
    codes = {country.upper() for country in countries}
    latest = {
        (row.data_class, row.country): row
        for row in RetentionPolicy.objects.filter(effective_from__lte=on, country__in=codes)
        .order_by("data_class", "country", "-effective_from")
        .distinct("data_class", "country")
    }
    out: list[PolicyView] = []
    for country in countries:
        for data_class in DataClass:
            row = latest.get((data_class.value, country.upper())) or latest.get(
                (data_class.value, "")
            )
            if row is None:
                continue
            if country and row.country == "":
                continue  # the default row says it once
            out.append(
                PolicyView(
                    data_class=row.data_class,
                    label=data_class.label,
                    country=row.country,
                    years=row.years,
                    days=row.days,
                    effective_from=row.effective_from,
                    legal_source=row.legal_source,
                    own=bool(row.country),
                )
            )
    return out


def policy_add(
    *,
    data_class: str,
    country: str,
    years: int,
    days: int,
    effective_from: date,
    legal_source: str,
    actor: str,
    now: datetime,
) -> RetentionPolicy:
    """Record a new version (audited). Bad input raises ValidationFailed saying which field."""
    country = (country or "").strip().upper()
    if data_class not in DataClass.values:
        raise ValidationFailed(
            f"data class must be one of {', '.join(DataClass.values)}",
            details={"field": "data_class"},
        )
    if country and (len(country) != 2 or not country.isalpha() or not country.isascii()):
        raise ValidationFailed(
            "country must be a two-letter ISO code, or empty for the default",
            details={"field": "country"},
        )
    if years < 0 or days < 0 or years + days == 0:
        raise ValidationFailed(
            "the retention period must be positive (years and days not negative)",
            details={"field": "years"},
        )
    if data_class == DataClass.AML_RECORDS and years < AML_MINIMUM_YEARS:
        raise ValidationFailed(
            f"AML records are kept at least {AML_MINIMUM_YEARS} years (the legal minimum)",
            details={"field": "years"},
        )
    source = (legal_source or "").strip()
    if not source:
        raise ValidationFailed(
            "say which law or decision sets this period", details={"field": "legal_source"}
        )
    if effective_from < now.date():
        raise ValidationFailed(
            "a new version starts today or later: past versions are never changed",
            details={"field": "effective_from"},
        )
    try:
        with transaction.atomic():
            row = RetentionPolicy.objects.create(
                data_class=data_class,
                country=country,
                years=years,
                days=days,
                effective_from=effective_from,
                legal_source=source[:300],
                created_at=now,
                created_by=actor,
            )
            audit_record(
                actor=actor,
                action="retention.policy_add",
                object_type="retention.policy",
                object_id=str(row.pk),
                data={
                    "data_class": data_class,
                    "country": country,
                    "years": years,
                    "days": days,
                    "effective_from": effective_from.isoformat(),
                },
                now=now,
            )
    except IntegrityError:
        raise ValidationFailed(
            "a version of this class and country already starts on that day",
            details={"field": "effective_from"},
        ) from None
    return row
