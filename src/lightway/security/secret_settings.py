"""Shared secrets in the settings: none may be a public default or too short in production.

Every secret the platform reads from the environment is listed in :data:`SECRETS`. A
secret is *weak* when it equals a value published in this source (the development
``SECRET_KEY``, the simulators' demo credentials), is shorter than its minimum, or has fewer
than :data:`MIN_DISTINCT` different characters. Under production settings
(:func:`production_settings`) the serving processes refuse to start while any secret is weak
(:func:`secrets_enforce`: the WSGI application, ``lightway serve``, ``up`` and ``worker``)
and ``lightway check`` fails; in development they only warn. Problems name the setting and
what is wrong with it, never the value.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from lightway.security.audit_signing import AuditKeyError, private_key_parse
from lightway.security.crypto import CryptoError, blind_key, keyring, using_development_keys

MIN_DISTINCT = 8

# Values published in this repository (settings defaults, simulators, docs): never secret.
PUBLIC_DEFAULTS = frozenset(
    {
        "dev-only-insecure-secret-key-change-me-in-production",
        "lightway-demo-sms-key",
        "sbx:lightway-demo-app-token",
        "lightway-demo-sumsub-secret-key",
        "lightway-demo-sumsub-webhook-secret",
        "lightway-demo-collection-key",
        "lightway-demo-disbursement-key",
        "lightway-demo-remittance-key",
        # the MoMo demo subscription keys (32 hex digits like MTN's; the ones above are the
        # earlier demo values, still refused)
        "de40c011ec7100000000000000000001",
        "de40d15b000000000000000000000002",
        "de40ae31700000000000000000000003",
        "lightway-demo-2026",
        "lightway-demo-rates-key",
        "lightway-demo-settlement-secret",
        "lightway-demo-settlement-callback-secret",
    }
)


@dataclass(frozen=True)
class Secret:
    """A secret setting: its minimum length, and the setting whose being set means the
    secret is in use ("" = always in use; ``optional`` = only checked when set)."""

    setting: str
    min_length: int
    used_when: str = ""
    optional: bool = False
    base64_bytes: int = 0  # when set: the value is base64 of at least this many bytes


SECRETS: tuple[Secret, ...] = (
    # Signs sessions, CSRF tokens and (unless LIGHTWAY_ACCESS_TOKEN_KEY is set) API tokens.
    Secret("SECRET_KEY", 50),
    Secret("LIGHTWAY_ACCESS_TOKEN_KEY", 0, optional=True, base64_bytes=32),
    Secret("LIGHTWAY_METRICS_TOKEN", 32, optional=True),
    # Encrypts logical backups (`lightway backup --encrypt`, docs/operations.md).
    Secret("LIGHTWAY_BACKUP_KEY", 0, optional=True, base64_bytes=32),
    # Verifies every inbound Sumsub webhook: the endpoint is always mounted.
    Secret("SUMSUB_WEBHOOK_SECRET", 32),
    Secret("SUMSUB_APP_TOKEN", 32, used_when="SUMSUB_BASE_URL"),
    Secret("SUMSUB_SECRET_KEY", 32, used_when="SUMSUB_BASE_URL"),
    Secret("AFRICASTALKING_API_KEY", 32, used_when="AFRICASTALKING_BASE_URL"),
    Secret("AFRICASTALKING_WEBHOOK_TOKEN", 32, used_when="AFRICASTALKING_BASE_URL"),
    Secret("TWILIO_AUTH_TOKEN", 32, used_when="TWILIO_BASE_URL"),
    Secret("LIGHTWAY_SMTP_PASSWORD", 12, used_when="LIGHTWAY_SMTP_USER"),
    Secret("MOMO_SUBSCRIPTION_KEY_COLLECTION", 32, used_when="MOMO_BASE_URL"),
    Secret("MOMO_SUBSCRIPTION_KEY_DISBURSEMENT", 32, used_when="MOMO_BASE_URL"),
    Secret("MOMO_SUBSCRIPTION_KEY_REMITTANCE", 32, used_when="MOMO_BASE_URL"),
    Secret("FX_REGIONAL_FEED_KEY", 24, used_when="FX_REGIONAL_FEED_URL"),
    Secret("MOMO_API_KEY", 32, optional=True),
    Secret("MOMO_COLLECTION_API_KEY", 32, optional=True),
    Secret("MOMO_DISBURSEMENT_API_KEY", 32, optional=True),
    Secret("MOMO_REMITTANCE_API_KEY", 32, optional=True),
    # The LightWay Finance Settlement API: our request signatures and its callbacks'.
    Secret("SETTLEMENT_SECRET", 32, used_when="SETTLEMENT_BASE_URL"),
    Secret("SETTLEMENT_CALLBACK_SECRET", 32, used_when="SETTLEMENT_BASE_URL"),
    # Signs the audit chain's checkpoints (security/audit_signing.py); unset = a development
    # key file under var/, which production must not rely on.
    Secret("LIGHTWAY_AUDIT_SIGNING_KEY", 32),
)


def production_settings() -> bool:
    """Whether this process runs with production settings: ``LIGHTWAY_DEBUG`` off and the
    personal-data keys configured (``LIGHTWAY_DATA_KEYS``, ``LIGHTWAY_BLIND_INDEX_KEY``).
    Real personal data may only be stored under configured keys, so a platform holding
    it has them; the development set-up (``make run``, the tests) runs on built-in keys."""
    return not settings.DEBUG and not using_development_keys()


def _problem(secret: Secret, value: str) -> str | None:
    name = secret.setting
    if value in PUBLIC_DEFAULTS or "lightway-demo" in value or "dev-only" in value:
        return f"{name} is a public default value"
    if secret.base64_bytes:
        try:
            raw = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            return f"{name} is not valid base64"
        if len(raw) < secret.base64_bytes:
            return f"{name} is shorter than {secret.base64_bytes} bytes"
        return None
    if len(value) < secret.min_length:
        return f"{name} is shorter than {secret.min_length} characters"
    if len(set(value)) < MIN_DISTINCT:
        return f"{name} has fewer than {MIN_DISTINCT} different characters"
    return None


def secret_problems() -> list[str]:
    """What is wrong with each secret in use (empty when all are strong)."""
    problems: list[str] = []
    for secret in SECRETS:
        value = str(getattr(settings, secret.setting, "") or "")
        if secret.used_when and not str(getattr(settings, secret.used_when, "") or ""):
            continue
        if not value:
            if not secret.optional:
                problems.append(f"{secret.setting} is not set")
            continue
        problem = _problem(secret, value)
        if problem:
            problems.append(problem)
    try:
        keyring()
        blind_key()
    except CryptoError as exc:
        problems.append(str(exc))
    signing = str(getattr(settings, "LIGHTWAY_AUDIT_SIGNING_KEY", "") or "")
    if signing:
        try:
            private_key_parse(signing)
        except AuditKeyError as exc:
            problems.append(str(exc))
    if using_development_keys():
        problems.append("LIGHTWAY_DATA_KEYS / LIGHTWAY_BLIND_INDEX_KEY are the development keys")
    return problems


def secrets_enforce(process: str) -> None:
    """Refuse to run ``process`` under production settings while a secret is weak."""
    if not production_settings():
        return
    problems = secret_problems()
    if problems:
        raise ImproperlyConfigured(
            f"{process} refuses to start with production settings and weak secrets: "
            + "; ".join(problems)
            + " (docs/operations.md, 'Secrets')"
        )
