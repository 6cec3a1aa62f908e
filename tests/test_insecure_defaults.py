"""Issue 11 finding 5: insecure defaults are refused outside development settings, and a
token's lifetime is bounded by the server's configuration, not by its signed expiry.

Production settings = ``LIGHTWAY_DEBUG`` off and the personal-data keys configured
(``lightway.security.secret_settings.production_settings``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from lightway.interfaces.cli.checks import check_secrets
from lightway.interfaces.cli.main import main
from lightway.security.apiauth.access import ACCESS_PREFIX, signed_dumps
from lightway.security.secret_settings import SECRETS, secret_problems
from tests.test_api_auth import PHONE, bearer, error, make_customer, sign_in

DATA_KEYS = "v1:" + base64.b64encode(b"k" * 16 + b"production-test!").decode()
BLIND_KEY = base64.b64encode(b"b" * 16 + b"production-blind").decode()
DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production"
STRONG = {
    "SECRET_KEY": "Zq8u2-Kp4vR9sLx1Wm7tYc3Nb6Hd0Gf5Je8Ua2Qi4Oo7Pl1Mk9Bn",
    "SUMSUB_WEBHOOK_SECRET": "w3bh00k-Secret-from-the-Sumsub-dashboard-7Xq",
    "SUMSUB_APP_TOKEN": "prd:Sumsub-app-token-issued-to-LightWay-9ZkQ",
    "SUMSUB_SECRET_KEY": "Sumsub-secret-key-issued-to-LightWay-4Rt",
    "AFRICASTALKING_API_KEY": "atsk_0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a",
    "AFRICASTALKING_WEBHOOK_TOKEN": "Rk2vQ8xN4mZ7pL1tW9sC3hJ6fB0yD5gA",
    "TWILIO_AUTH_TOKEN": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "MOMO_SUBSCRIPTION_KEY_COLLECTION": "3f9a1c0b7d2e4a51b6c8d0e2f4a6b8c1",
    "MOMO_SUBSCRIPTION_KEY_DISBURSEMENT": "8e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b",
    "MOMO_SUBSCRIPTION_KEY_REMITTANCE": "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
    "LIGHTWAY_AUDIT_SIGNING_KEY": "CzBVep/E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYY=",  # an Ed25519 seed
}


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.LIGHTWAY_DATA_KEYS = DATA_KEYS
    settings.LIGHTWAY_BLIND_INDEX_KEY = BLIND_KEY
    settings.SECRET_KEY = DEFAULT_SECRET_KEY
    settings.SUMSUB_WEBHOOK_SECRET = "lightway-demo-sumsub-webhook-secret"
    settings.SUMSUB_BASE_URL = "https://api.sumsub.example"
    settings.SUMSUB_APP_TOKEN = "sbx:lightway-demo-app-token"
    settings.SUMSUB_SECRET_KEY = "short"
    settings.AFRICASTALKING_BASE_URL = "https://api.africastalking.com"
    settings.AFRICASTALKING_API_KEY = "lightway-demo-africastalking-key"
    settings.AFRICASTALKING_WEBHOOK_TOKEN = "lightway-demo-africastalking-webhook-token"
    settings.TWILIO_BASE_URL = "https://api.twilio.com"
    settings.TWILIO_AUTH_TOKEN = "lightway-demo-twilio-token"
    settings.MOMO_BASE_URL = "https://proxy.momoapi.example"
    settings.MOMO_SUBSCRIPTION_KEY_COLLECTION = "de40c011ec7100000000000000000001"
    settings.MOMO_SUBSCRIPTION_KEY_DISBURSEMENT = "de40d15b000000000000000000000002"
    settings.MOMO_SUBSCRIPTION_KEY_REMITTANCE = "de40ae31700000000000000000000003"
    settings.LIGHTWAY_METRICS_TOKEN = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    return settings


def _strong(settings) -> None:
    for name, value in STRONG.items():
        setattr(settings, name, value)
    settings.LIGHTWAY_METRICS_TOKEN = "metrics-Scrape-token-7Hq2Lp9Xw4Zt6Rv1"


def test_every_default_or_short_secret_is_named_and_no_value_is_shown(production):
    problems = "; ".join(secret_problems())
    for name in (
        "SECRET_KEY is a public default",
        "SUMSUB_WEBHOOK_SECRET is a public default",
        "SUMSUB_APP_TOKEN is a public default",
        "SUMSUB_SECRET_KEY is shorter than 32",
        "AFRICASTALKING_API_KEY is a public default",
        "AFRICASTALKING_WEBHOOK_TOKEN is a public default",
        "TWILIO_AUTH_TOKEN is a public default",
        "MOMO_SUBSCRIPTION_KEY_COLLECTION is a public default",
        "MOMO_SUBSCRIPTION_KEY_DISBURSEMENT is a public default",
        "MOMO_SUBSCRIPTION_KEY_REMITTANCE is a public default",
        "LIGHTWAY_METRICS_TOKEN has fewer than 8 different characters",
        "LIGHTWAY_AUDIT_SIGNING_KEY is not set",
    ):
        assert name in problems
    assert "lightway-demo" not in problems and DEFAULT_SECRET_KEY not in problems
    assert "de40" not in problems  # nor the MoMo demo subscription keys
    result = check_secrets()
    assert result.status == "FAIL" and "SECRET_KEY" in result.detail


def test_every_secret_setting_is_listed():
    """Every setting that names a key, token, secret or password is checked."""
    from lightway.infrastructure import settings as module

    words = ("KEY", "TOKEN", "SECRET", "PASSWORD")
    exempt = {
        "LIGHTWAY_DATA_KEYS",  # checked by crypto (keyring) in secret_problems
        "LIGHTWAY_BLIND_INDEX_KEY",  # idem
        "LIGHTWAY_ACCESS_TOKEN_SECONDS",
        "LIGHTWAY_REFRESH_TOKEN_SECONDS",
        "SUMSUB_SDK_TOKEN_TTL",
        "MOMO_TOKEN_TIMEOUT_SECONDS",
        "MOMO_TOKEN_REFRESH_MARGIN_SECONDS",
        "PASSWORD_HASHERS",
        "AUTH_PASSWORD_VALIDATORS",
        "LIGHTWAY_INTEGRATION_KEY_MAX_DAYS",  # a lifetime, not a secret
        "SETTLEMENT_KEY_ID",  # names the secret, is not one
        "SETTLEMENT_CALLBACK_KEY_ID",  # idem
        "LIGHTWAY_WEBHOOK_KEY_OVERLAP_SECONDS",  # how long an old webhook key lives: a duration
        "LIGHTWAY_AUDIT_VERIFY_KEYS",  # public keys
    }
    named = {n for n in vars(module) if n.isupper() and any(w in n for w in words)} - exempt
    assert named <= {s.setting for s in SECRETS}, named - {s.setting for s in SECRETS}


def test_strong_secrets_pass_and_development_settings_only_warn(production, settings):
    _strong(settings)
    assert secret_problems() == []
    assert check_secrets().status == "OK"
    settings.SECRET_KEY = DEFAULT_SECRET_KEY
    settings.DEBUG = True  # development settings: a warning, nothing refused
    assert check_secrets().status == "WARN"


@pytest.mark.parametrize("command", [["serve", "--port", "65500"], ["worker"], ["up", "--no-seed"]])
def test_serving_commands_refuse_to_start_with_a_default_secret(production, capsys, command):
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "refuses to start" in err and "SECRET_KEY is a public default" in err


def _import_wsgi(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import lightway.interfaces.web.wsgi"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_wsgi_application_refuses_to_load_with_a_default_secret():
    """However the web server is started (gunicorn directly, another WSGI server)."""
    production_env = {
        "LIGHTWAY_DEBUG": "false",
        "LIGHTWAY_DATA_KEYS": DATA_KEYS,
        "LIGHTWAY_BLIND_INDEX_KEY": BLIND_KEY,
        "DJANGO_SETTINGS_MODULE": "lightway.infrastructure.settings",
    }
    for name in ("LIGHTWAY_SECRET_KEY", "SUMSUB_WEBHOOK_SECRET", "LIGHTWAY_METRICS_TOKEN"):
        production_env.pop(name, None)
    env = {k: v for k, v in os.environ.items() if k not in {"LIGHTWAY_SECRET_KEY"}}
    refused = subprocess.run(
        [sys.executable, "-c", "import lightway.interfaces.web.wsgi"],
        env={**env, **production_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "SECRET_KEY is a public default" in refused.stderr
    allowed = _import_wsgi(
        {
            **production_env,
            "LIGHTWAY_SECRET_KEY": STRONG["SECRET_KEY"],
            "SUMSUB_WEBHOOK_SECRET": STRONG["SUMSUB_WEBHOOK_SECRET"],
            "LIGHTWAY_AUDIT_SIGNING_KEY": STRONG["LIGHTWAY_AUDIT_SIGNING_KEY"],
        }
    )
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.django_db
def test_a_re_signed_access_token_cannot_outlive_the_configured_maximum(client, outbox):
    """The pen-test's token: captured, its expiry moved 30 days on and signed again with the
    (default) key. The server's own maximum lifetime bounds it whatever the signature."""
    make_customer()
    access = sign_in(client, outbox)["access_token"]
    assert client.get("/api/v1/wallets", **bearer(access)).status_code == 200
    payload = access.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.pop("typ")
    claims["exp"] = int((timezone.now() + timedelta(days=30)).timestamp())
    forged = signed_dumps(prefix=ACCESS_PREFIX, typ="access", claims=claims)
    error(client.get("/api/v1/wallets", **bearer(forged)), 401, "unauthenticated")
    claims["exp"] = int((timezone.now() + timedelta(seconds=200)).timestamp())
    within = signed_dumps(prefix=ACCESS_PREFIX, typ="access", claims=claims)
    assert client.get("/api/v1/wallets", **bearer(within)).status_code == 200
    assert PHONE  # the customer the helper signed in
