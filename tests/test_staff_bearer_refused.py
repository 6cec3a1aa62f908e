"""Staff never hold bearer credentials (issue 11, finding 9).

An API token or a mobile access token lets its holder past the second factor and the
idle timeout that guard every staff page, so docs/api.md says staff never get one. Before
the fix an operator could issue a staff member an API token (the demo did, for `admin`)
and the API accepted it. Now every kind of bearer credential is refused for a staff account
(LightWay or MTN realm, or Django's is_staff / is_superuser) when it would be issued and
whenever it is presented, so a token made before the rule, planted in the database or held
by an account made staff later does not work either.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.identity.profiles import profile_create
from lightway.data.identity.models import Profile, Realm
from lightway.security.models import ApiToken
from lightway.security.policy import Role
from lightway.security.tokens import StaffTokenRefused, token_issue
from tests.factories import customer, staff

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
PASSWORD = "amber-Lantern-2026"
DEVICE = "7c1d2e3f-aaaa-4bbb-8ccc-000000000001"
# One operation of each bearer-authenticated router: customers', customers' MoMo, and the
# session operations. (The MoMo status and report operations under /api/v1/momo/ take
# integration keys only, and refuse every bearer token: tests/test_integration_keys.py.)
BEARER_PATHS = (
    "/api/v1/wallets",
    "/api/v1/momo/transfers/00000000-0000-0000-0000-000000000001",
    "/api/v1/auth/devices",
)


def planted(user_id: int, raw: str) -> str:
    """A token row written straight into the database (issued before the rule, or by a
    path that forgot it)."""
    ApiToken.objects.create(
        user_id=user_id,
        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
        prefix=raw[:10],
        created_at=timezone.now(),
    )
    return raw


def get(client, path, token):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_refused(client, token):
    for path in BEARER_PATHS:
        resp = get(client, path, token)
        assert resp.status_code == 401, (path, resp.status_code, resp.content)
        assert resp.json()["error"]["code"] in ("unauthenticated", "session_revoked"), path


def staff_accounts(now):
    User = get_user_model()
    lightway = staff("ops", [Role.LW_OPERATIONS], now)
    mtn = staff("mtn-mon", [Role.MTN_MONITORING], now)
    flagged = User.objects.create_user("flagged", is_staff=True)  # no profile, is_staff
    profile_create(user_id=flagged.pk, realm=Realm.CUSTOMER, now=now)
    root = User.objects.create_user("root", is_superuser=True)  # no profile at all
    return {"lightway": lightway, "mtn": mtn, "is_staff": flagged.pk, "superuser": root.pk}


def test_no_api_token_is_issued_to_staff(now):
    for kind, user_id in staff_accounts(now).items():
        with pytest.raises(StaffTokenRefused):
            token_issue(user_id=user_id, now=now)
        assert not ApiToken.objects.filter(user_id=user_id).exists(), kind
    _, token = customer("amara", now)
    assert token.startswith("lw_")


def test_a_staff_api_token_is_refused_on_every_bearer_operation(client, now):
    for kind, user_id in staff_accounts(now).items():
        assert_refused(client, planted(user_id, f"lw_planted_{kind}"))


def test_a_customer_made_staff_loses_its_api_token(client, now):
    customer_id, token = customer("amara", now)
    assert get(client, "/api/v1/wallets", token).status_code == 200
    get_user_model().objects.filter(pk=customer_id).update(is_staff=True)
    assert_refused(client, token)


def _signed_in_customer(client, outbox):
    user = get_user_model().objects.create_user(username="kato", password=PASSWORD)
    profile_create(
        user_id=user.pk, realm=Realm.CUSTOMER, now=timezone.now(), country="UG", phone=PHONE
    )
    Profile.objects.filter(user_id=user.pk).update(phone_verified_at=timezone.now())

    def post(path, body):
        return client.post(path, data=json.dumps(body), content_type="application/json")

    resp = post("/api/v1/auth/login", {"login": PHONE, "password": PASSWORD, "device_id": DEVICE})
    assert resp.status_code == 202, resp.content
    resp = post(
        "/api/v1/auth/login/verify",
        {"challenge_id": resp.json()["challenge_id"], "code": outbox.latest_code(PHONE)},
    )
    assert resp.status_code == 200, resp.content
    return user, resp.json(), post


@pytest.mark.parametrize("how", ["is_staff", "is_superuser", "realm"])
def test_access_and_refresh_tokens_stop_when_the_account_becomes_staff(client, outbox, how):
    user, tokens, post = _signed_in_customer(client, outbox)
    assert get(client, "/api/v1/wallets", tokens["access_token"]).status_code == 200
    if how == "realm":
        Profile.objects.filter(user_id=user.pk).update(realm=Realm.LIGHTWAY)
    else:
        get_user_model().objects.filter(pk=user.pk).update(**{how: True})
    assert_refused(client, tokens["access_token"])
    resp = post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"], "device_id": DEVICE}
    )
    assert resp.status_code == 401, resp.content
