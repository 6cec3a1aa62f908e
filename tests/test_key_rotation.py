"""`lightway keys rotate` re-seals every encrypted column under the current key."""

from __future__ import annotations

import base64
import os

import pytest
from django.contrib.auth import get_user_model

from lightway.application.datakeys.rotation import keys_rotate, keys_status
from lightway.application.identity.profiles import profile_create, profile_find, profile_pii
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile
from lightway.security import crypto

pytestmark = pytest.mark.django_db


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def ring(settings):
    k1, k2 = _key(), _key()
    settings.LIGHTWAY_DATA_KEYS = f"v1:{k1}"
    crypto.keyring_cache_clear()
    yield settings, k1, k2
    crypto.keyring_cache_clear()


def _people(now, n: int) -> list[int]:
    ids = []
    for i in range(n):
        user = get_user_model().objects.create(username=f"rot{i}")
        profile_create(
            user_id=user.pk,
            realm="customer",
            now=now,
            country="UG",
            phone=f"+2567721234{i:02d}",
            email=f"person{i}@example.com",
            name=f"Person {i}",
        )
        ids.append(user.pk)
    return ids


def test_rotation_reseals_everything_and_values_still_open(ring, now):
    settings, k1, k2 = ring
    ids = _people(now, 7)
    # Personal data is sealed with each person's own key, and those keys under the KEK.
    assert keys_status()["identity.Profile.phone_ct"] == {"person": 7}
    assert keys_status()["identity.PersonKey.key_ct"] == {"v1": 7}

    settings.LIGHTWAY_DATA_KEYS = f"v2:{k2},v1:{k1}"
    crypto.keyring_cache_clear()
    seen: list[tuple[int, int, str]] = []
    result = keys_rotate(now=now, batch=3, progress=lambda d, t, c: seen.append((d, t, c)))
    # phone, email and name of each of the 7 people stay as they are (under their person's
    # key); the 7 person keys are re-wrapped under v2 (no other encrypted rows).
    assert (result.examined, result.resealed) == (28, 7)
    assert (3, 7, "identity.Profile.phone_ct") in seen  # batches report progress
    status = keys_status()
    assert status["identity.Profile.phone_ct"] == {"person": 7}
    assert status["identity.PersonKey.key_ct"] == {"v2": 7}

    # The old key can now leave the configuration; everything still opens and is found.
    settings.LIGHTWAY_DATA_KEYS = f"v2:{k2}"
    crypto.keyring_cache_clear()
    for i, user_id in enumerate(ids):
        pii = profile_pii(Profile.objects.get(pk=user_id))
        assert (pii.phone, pii.email, pii.name) == (
            f"+2567721234{i:02d}",
            f"person{i}@example.com",
            f"Person {i}",
        )
    assert profile_find(kind="phone", value="+256772123403").pk == ids[3]

    # Running it again changes nothing; both runs are audited with counts only.
    assert keys_rotate(now=now).resealed == 0
    records = AuditRecord.objects.filter(action="keys.rotate").order_by("id")
    assert [r.data for r in records] == [
        {"examined": 28, "resealed": 7},
        {"examined": 28, "resealed": 0},
    ]


def test_rotation_refuses_a_value_whose_key_is_missing(ring, now):
    settings, _k1, k2 = ring
    _people(now, 1)
    settings.LIGHTWAY_DATA_KEYS = f"v2:{k2}"  # v1 removed too early
    crypto.keyring_cache_clear()
    with pytest.raises(crypto.CryptoError, match="'v1' is not configured"):
        keys_rotate(now=now)
