"""AML rules: configurable, versioned, with effective dates.

A rule is a ``code`` (what staff and alerts call it) of a ``kind`` (what it computes). Each
change is a new :class:`RuleVersion` with its own ``effective_from`` (and optional
``effective_to``); the version in force at T is the one with the latest start not after T
(:func:`rule_in_force`, one indexed read). A version in force or past is frozen by the
database (aml migration 0002), so history says exactly what applied when.

Parameters are validated per kind (:data:`KINDS`); money amounts are integers in minor units
of the market's currency, per country (``{"countries": {"UG": {...}}}``, the market being
the home market of the payment's currency, i.e. the wallet's market).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q

from lightway.application.errors import ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.data.aml.models import RuleMode, RuleVersion
from lightway.data.audit.services import audit_record

# --- parameter validation, per kind --------------------------------------------------------------


def _int(value: object, name: str, *, minimum: int = 0, maximum: int = 10**15) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{name} must be a whole number", details={"field": name})
    if not minimum <= value <= maximum:
        raise ValidationFailed(
            f"{name} must be between {minimum} and {maximum}", details={"field": name}
        )
    return value


def _number(value: object, name: str, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed(f"{name} must be a number", details={"field": name})
    if not minimum <= float(value) <= maximum:
        raise ValidationFailed(
            f"{name} must be between {minimum:g} and {maximum:g}", details={"field": name}
        )
    return float(value)


def _countries(
    params: Mapping[str, Any], keys: tuple[str, ...], *, required: bool = True
) -> dict[str, Any]:
    raw = params.get("countries", {})
    if not isinstance(raw, dict) or (required and not raw):
        raise ValidationFailed(
            "countries must map market codes (UG, GH, ...) to their amounts",
            details={"field": "countries"},
        )
    out: dict[str, dict[str, int]] = {}
    for country, values in raw.items():
        if country not in MARKETS:
            raise ValidationFailed(
                f"unknown market {str(country)[:8]!r}: one of {', '.join(sorted(MARKETS))}",
                details={"field": "countries"},
            )
        if not isinstance(values, dict) or set(values) - set(keys) or not set(values) & set(keys):
            raise ValidationFailed(
                f"countries.{country} takes {', '.join(keys)} (minor units of {MARKETS[country]})",
                details={"field": f"countries.{country}"},
            )
        out[country] = {
            k: _int(v, f"countries.{country}.{k}", minimum=1) for k, v in values.items()
        }
    return out


def _window(params: Mapping[str, Any], default: int) -> int:
    return _int(params.get("window_hours", default), "window_hours", minimum=1, maximum=24 * 90)


def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(params) - allowed
    if unknown:
        raise ValidationFailed(
            f"unknown parameter(s) {', '.join(sorted(unknown))}; allowed: "
            f"{', '.join(sorted(allowed))}",
            details={"field": "parameters"},
        )


def _threshold(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, {"countries"})
    return {"countries": _countries(p, ("amount",))}


def _sanctioned_party(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, set())
    return {}


def _screening(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, {"threshold"})
    return {"threshold": _number(p.get("threshold", 88), "threshold", minimum=50, maximum=100)}


def _structuring(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, {"countries", "band_percent", "min_count", "window_hours"})
    return {
        "countries": _countries(p, ("threshold",)),
        "band_percent": _int(p.get("band_percent", 10), "band_percent", minimum=1, maximum=50),
        "min_count": _int(p.get("min_count", 3), "min_count", minimum=2, maximum=1000),
        "window_hours": _window(p, 24),
    }


def _velocity(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, {"countries", "max_count", "window_hours"})
    return {
        "countries": _countries(p, ("max_value",), required=False),
        "max_count": _int(p.get("max_count", 20), "max_count", minimum=1, maximum=100000),
        "window_hours": _window(p, 24),
    }


def _fan(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, {"min_counterparties", "window_hours"})
    return {
        "min_counterparties": _int(
            p.get("min_counterparties", 5), "min_counterparties", minimum=2, maximum=10000
        ),
        "window_hours": _window(p, 24),
    }


def _round_trip(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, {"max_hops", "window_hours"})
    return {
        "max_hops": _int(p.get("max_hops", 4), "max_hops", minimum=2, maximum=6),
        "window_hours": _window(p, 72),
    }


def _dormant(p: Mapping[str, Any]) -> dict[str, Any]:
    _only(p, {"countries", "dormant_days", "window_hours"})
    return {
        "countries": _countries(p, ("min_value",)),
        "dormant_days": _int(p.get("dormant_days", 90), "dormant_days", minimum=7, maximum=3650),
        "window_hours": _window(p, 24),
    }


@dataclass(frozen=True)
class Kind:
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    modes: tuple[str, ...]
    actions: tuple[str, ...]
    title: str


KINDS: dict[str, Kind] = {
    "threshold": Kind(_threshold, ("inline",), ("flag", "refuse"), "Single payment threshold"),
    "sanctioned_party": Kind(
        _sanctioned_party, ("inline",), ("refuse", "flag"), "Sanctioned payer or recipient"
    ),
    "sanctions_screening": Kind(_screening, ("batch",), ("flag",), "Sanctions name screening"),
    "structuring": Kind(_structuring, ("batch",), ("flag",), "Structuring below a threshold"),
    "velocity": Kind(_velocity, ("batch",), ("flag",), "Velocity (count/value in a window)"),
    "fan_in": Kind(_fan, ("batch",), ("flag",), "Fan-in (many payers to one wallet)"),
    "fan_out": Kind(_fan, ("batch",), ("flag",), "Fan-out (one wallet to many payees)"),
    "round_trip": Kind(_round_trip, ("batch",), ("flag",), "Round-tripping (A to ... to A)"),
    "dormant": Kind(_dormant, ("batch",), ("flag",), "Dormant account sudden activity"),
}

CODE_MAX = 40


def parameters_validate(kind: str, parameters: object) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", details={"field": "kind"})
    if not isinstance(parameters, dict):
        raise ValidationFailed("parameters must be a JSON object", details={"field": "parameters"})
    return KINDS[kind].validate(parameters)


# --- versions ------------------------------------------------------------------------------------


def rule_version_add(
    *,
    code: str,
    kind: str,
    effective_from: datetime,
    mode: str,
    action: str,
    parameters: object,
    now: datetime,
    enabled: bool = True,
    effective_to: datetime | None = None,
    note: str = "",
    actor_id: int | None = None,
) -> RuleVersion:
    """Add the next version of rule ``code`` (the first one creates the rule). Validated:
    the kind's parameters, mode and action; a rule keeps its kind; the new version may not
    start before the latest existing one (history is not rewritten)."""
    code = (code or "").strip()
    if not code or len(code) > CODE_MAX or not code.replace("_", "").isalnum():
        raise ValidationFailed(
            f"code must be 1 to {CODE_MAX} letters, digits or underscores",
            details={"field": "code"},
        )
    params = parameters_validate(kind, parameters)
    spec = KINDS[kind]
    if mode not in spec.modes:
        raise ValidationFailed(
            f"a {kind} rule runs {' or '.join(spec.modes)}", details={"field": "mode"}
        )
    if action not in spec.actions:
        raise ValidationFailed(
            f"a {kind} rule can {' or '.join(spec.actions)}", details={"field": "action"}
        )
    if effective_from.tzinfo is None:
        raise ValidationFailed(
            "effective_from needs a time zone", details={"field": "effective_from"}
        )
    if effective_to is not None and effective_to <= effective_from:
        raise ValidationFailed(
            "effective_to must be after effective_from", details={"field": "effective_to"}
        )
    with transaction.atomic():
        # one writer per code at a time (the version number is the next one)
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('aml_rule:' || %s))", [code])
        latest = RuleVersion.objects.filter(code=code).order_by("-version").first()
        if latest is not None and latest.kind != kind:
            raise ValidationFailed(
                f"rule {code} is a {latest.kind} rule: its kind cannot change",
                details={"field": "kind"},
            )
        last_start = RuleVersion.objects.filter(code=code).aggregate(m=Max("effective_from"))["m"]
        if last_start is not None and effective_from < last_start:
            raise ValidationFailed(
                f"effective_from must not be before the latest version's start "
                f"({last_start:%Y-%m-%d %H:%M} UTC)",
                details={"field": "effective_from"},
            )
        version = RuleVersion.objects.create(
            code=code,
            kind=kind,
            version=(latest.version + 1) if latest else 1,
            effective_from=effective_from,
            effective_to=effective_to,
            enabled=enabled,
            mode=mode,
            action=action,
            parameters=params,
            note=note[:300],
            created_by_id=actor_id,
            created_at=now,
        )
        audit_record(
            actor=f"staff:{actor_id}" if actor_id else "system",
            action="aml.rule_version.add",
            object_type="aml.rule",
            object_id=code,
            data={"version": version.version, "kind": kind, "mode": mode, "action": action},
            now=now,
        )
    rules_cache_clear()
    return version


def rule_in_force(*, code: str, at: datetime) -> RuleVersion | None:
    """The version of ``code`` in force at ``at`` (enabled or not), or None: one range of
    the ``aml_rule_in_force`` index."""
    version = (
        RuleVersion.objects.filter(code=code, effective_from__lte=at)
        .order_by("-effective_from", "-version")
        .first()
    )
    if version is None or (version.effective_to is not None and version.effective_to <= at):
        return None
    return version


def rules_in_force(*, at: datetime, mode: str | None = None) -> list[RuleVersion]:
    """Every enabled rule in force at ``at`` (optionally of one mode)."""
    codes = RuleVersion.objects.values_list("code", flat=True).distinct().order_by("code")
    out = []
    for code in codes:
        version = rule_in_force(code=code, at=at)
        if version is not None and version.enabled and (mode is None or version.mode == mode):
            out.append(version)
    return out


def rule_versions(*, code: str | None = None) -> list[RuleVersion]:
    qs = RuleVersion.objects.all()
    if code:
        qs = qs.filter(code=code)
    return list(qs.order_by("code", "-version")[:500])


# --- the inline rules, cached per process ---------------------------------------------------------


def cache_seconds() -> float:
    return float(getattr(settings, "LIGHTWAY_AML_CACHE_SECONDS", 10))


@dataclass(frozen=True)
class _Cached:
    loaded: float
    # every version of every inline rule that is not over yet, newest first per code
    versions: tuple[RuleVersion, ...]


_cache: _Cached | None = None
_lock = threading.Lock()


def rules_cache_clear() -> None:
    global _cache
    _cache = None


def inline_rules(*, at: datetime) -> list[RuleVersion]:
    """The enabled inline rules in force at ``at``, from a per-process cache refreshed every
    ``LIGHTWAY_AML_CACHE_SECONDS`` (one small query, not one per payment). A new version shows in
    every process within that time."""
    global _cache
    cached = _cache
    if cached is None or time.monotonic() - cached.loaded > cache_seconds():
        with _lock:
            versions = tuple(
                RuleVersion.objects.filter(mode=RuleMode.INLINE)
                .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
                .order_by("code", "-effective_from", "-version")
            )
            cached = _cache = _Cached(time.monotonic(), versions)
    chosen: dict[str, RuleVersion] = {}
    for version in cached.versions:
        if version.code in chosen or version.effective_from > at:
            continue
        chosen[version.code] = version
    return [
        v for v in chosen.values() if v.enabled and (v.effective_to is None or v.effective_to > at)
    ]


# --- defaults (seed-demo) ------------------------------------------------------------------------

# Minor units of each market's currency (UGX and XAF/XOF have none; GHS, ZMW two; RWF none).
DEFAULT_THRESHOLDS = {
    "UG": 20_000_000,  # UGX 20,000,000
    "GH": 5_000_000,  # GHS 50,000.00
    "RW": 5_000_000,  # RWF 5,000,000
    "ZM": 10_000_000,  # ZMW 100,000.00
    "CI": 5_000_000,  # XOF 5,000,000
    "CM": 5_000_000,  # XAF 5,000,000
}


def default_rules() -> list[dict[str, Any]]:
    countries = {c: {"amount": a} for c, a in DEFAULT_THRESHOLDS.items()}
    half = {c: {"threshold": a // 2} for c, a in DEFAULT_THRESHOLDS.items()}
    value = {c: {"max_value": a} for c, a in DEFAULT_THRESHOLDS.items()}
    dormant = {c: {"min_value": a // 10} for c, a in DEFAULT_THRESHOLDS.items()}
    return [
        {
            "code": "LARGE_PAYMENT",
            "kind": "threshold",
            "mode": "inline",
            "action": "flag",
            "parameters": {"countries": countries},
        },
        {
            "code": "SANCTIONED_PARTY",
            "kind": "sanctioned_party",
            "mode": "inline",
            "action": "refuse",
            "parameters": {},
        },
        {
            "code": "SANCTIONS_SCREENING",
            "kind": "sanctions_screening",
            "mode": "batch",
            "action": "flag",
            "parameters": {"threshold": 88},
        },
        {
            "code": "STRUCTURING",
            "kind": "structuring",
            "mode": "batch",
            "action": "flag",
            "parameters": {
                "countries": half,
                "band_percent": 10,
                "min_count": 3,
                "window_hours": 24,
            },
        },
        {
            "code": "VELOCITY",
            "kind": "velocity",
            "mode": "batch",
            "action": "flag",
            "parameters": {"countries": value, "max_count": 20, "window_hours": 24},
        },
        {
            "code": "FAN_IN",
            "kind": "fan_in",
            "mode": "batch",
            "action": "flag",
            "parameters": {"min_counterparties": 5, "window_hours": 24},
        },
        {
            "code": "FAN_OUT",
            "kind": "fan_out",
            "mode": "batch",
            "action": "flag",
            "parameters": {"min_counterparties": 5, "window_hours": 24},
        },
        {
            "code": "ROUND_TRIP",
            "kind": "round_trip",
            "mode": "batch",
            "action": "flag",
            "parameters": {"max_hops": 4, "window_hours": 72},
        },
        {
            "code": "DORMANT",
            "kind": "dormant",
            "mode": "batch",
            "action": "flag",
            "parameters": {"countries": dormant, "dormant_days": 90, "window_hours": 24},
        },
    ]


def rules_seed_defaults(*, effective_from: datetime, now: datetime) -> int:
    """Version 1 of each default rule that does not exist yet (idempotent)."""
    existing = set(RuleVersion.objects.values_list("code", flat=True))
    added = 0
    for spec in default_rules():
        if spec["code"] in existing:
            continue
        try:
            rule_version_add(effective_from=effective_from, now=now, **spec)
        except IntegrityError:
            continue  # a concurrent seed added it
        added += 1
    return added
