"""Helpers for the Sumsub KYC tests: a simulator wired into settings, customers, signed
webhook deliveries and a runner for queued ``kyc_event_process`` jobs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from lightway.application.identity.profiles import profile_create
from lightway.application.kyc.verification import TASK_EVENT_PROCESS, kyc_event_process
from lightway.data.identity.models import KycTier, Profile, Realm
from lightway.integration.sumsub.signing import payload_digest
from lightway.integration.sumsub.simulator import (
    DEFAULT_APP_TOKEN,
    DEFAULT_SECRET_KEY,
    SumsubSimulator,
)

WEBHOOK_SECRET = "kyc-tests-webhook-secret"


def sim_settings(settings: Any, sim: SumsubSimulator) -> None:
    settings.SUMSUB_BASE_URL = sim.base_url
    settings.SUMSUB_APP_TOKEN = DEFAULT_APP_TOKEN
    settings.SUMSUB_SECRET_KEY = DEFAULT_SECRET_KEY
    settings.SUMSUB_LEVEL_NAME = "basic-kyc-level"
    settings.SUMSUB_WEBHOOK_SECRET = WEBHOOK_SECRET


def make_customer(
    now: datetime,
    *,
    phone: str | None = None,
    email: str | None = None,
    tier: int = KycTier.PHONE_VERIFIED,
) -> tuple[int, Profile]:
    """A customer with a profile (phone and email encrypted) at ``tier``."""
    phone = phone or f"+2567{uuid.uuid4().int % 10**8:08d}"
    email = email or f"kyc-{uuid.uuid4().hex[:8]}@example.test"
    user = get_user_model().objects.create_user(username=f"tmp-{uuid.uuid4().hex[:12]}")
    profile = profile_create(
        user_id=user.pk,
        realm=Realm.CUSTOMER,
        now=now,
        country="UG",
        phone=phone,
        email=email,
        birth_date="1990-05-01",
    )
    user.username = profile.subject
    user.save(update_fields=["username"])
    Profile.objects.filter(pk=profile.pk).update(kyc_tier=tier)
    profile.refresh_from_db()
    return user.pk, profile


def signed(
    payload: dict[str, Any] | bytes,
    *,
    alg: str = "HMAC_SHA256_HEX",
    secret: str = WEBHOOK_SECRET,
) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":"))
    body = body if isinstance(body, bytes) else body.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Payload-Digest": payload_digest(secret=secret, body=body, alg=alg),
        "X-Payload-Digest-Alg": alg,
        "User-Agent": "sumsub-test",
    }
    return body, headers


def queued_event_ids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (args->>'event_id')::bigint FROM procrastinate_jobs"
            " WHERE task_name = %s AND status = 'todo' ORDER BY id",
            [TASK_EVENT_PROCESS],
        )
        return [row[0] for row in cursor.fetchall()]


def run_kyc_jobs(now: datetime | None = None, *, only: list[int] | None = None) -> list[str]:
    """Run queued ``kyc_event_process`` jobs here, as the worker would; return outcomes."""
    ids = [i for i in queued_event_ids() if only is None or i in only]
    outcomes = [kyc_event_process(event_id=i, now=now or timezone.now()) for i in ids]
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM procrastinate_jobs WHERE task_name = %s AND status = 'todo'"
                " AND (args->>'event_id')::bigint = ANY(%s)",
                [TASK_EVENT_PROCESS, ids],
            )
    return outcomes


def clear_kyc_jobs() -> None:
    """procrastinate's table is not flushed between tests: drop our leftovers."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE task_name = %s", [TASK_EVENT_PROCESS])
