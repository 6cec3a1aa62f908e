"""Partner API keys and HMAC request signatures, end to end over the Django test client
(GET /api/v1/partner/whoami) and at the verifier with a controlled clock."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.partners.keys import (
    partner_key_create,
    partner_key_list,
    partner_key_revoke,
    partner_key_rotate,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Partner
from lightway.security.apiauth.models import PartnerApiKey, RequestNonce
from lightway.security.signatures import (
    SignatureRejected,
    canonical_string,
    request_nonces_prune,
    sign_request,
    signature_verify,
)

pytestmark = pytest.mark.django_db

WHOAMI = "/api/v1/partner/whoami"


@pytest.fixture
def partner(now):
    return Partner.objects.create(code="acme-remit", name="Acme Remit", created_at=now)


@pytest.fixture
def key(partner):
    return partner_key_create(partner_id=partner.pk, actor="user:1", now=timezone.now())


def meta(headers):
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def call(client, key_id, secret, *, method="GET", target=WHOAMI, body=b"", ts=None, **over):
    headers = sign_request(
        key_id=key_id,
        secret=secret,
        method=method,
        target=target,
        body=body,
        timestamp=int(time.time()) if ts is None else ts,
    )
    headers.update(over)
    headers = {k: v for k, v in headers.items() if v is not None}
    if method == "GET":
        return client.get(target, **meta(headers))
    return client.generic(
        method, target, data=body, content_type="application/json", **meta(headers)
    )


def error_code(resp, status=401):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert set(body["error"]) == {"code", "category", "message", "path", "retryable", "details"}
    return body["error"]["code"]


def test_valid_signature_authenticates_the_partner(client, key):
    key_id, secret = key
    assert key_id.startswith("pk_live_") and secret.startswith("sk_live_")
    resp = call(client, key_id, secret)
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"partner": "acme-remit", "key_id": key_id}
    # the query string is part of what is signed
    resp = call(client, key_id, secret, target=WHOAMI + "?probe=1&x=a%20b")
    assert resp.status_code == 200, resp.content


def test_secret_stored_encrypted_and_key_creation_audited(key):
    key_id, secret = key
    row = PartnerApiKey.objects.get(key_id=key_id)
    assert secret.encode() not in bytes(row.secret_ct)
    record = AuditRecord.objects.get(action="partner_key.create", object_id=key_id)
    assert secret not in json.dumps(record.data)


def test_tampered_body_path_and_query_are_refused(client, key, partner):
    key_id, secret = key
    now = timezone.now()
    body = b'{"amount": 100}'
    headers = sign_request(
        key_id=key_id,
        secret=secret,
        method="POST",
        target="/x",
        body=body,
        timestamp=int(time.time()),
    )
    # the verifier itself, for a method the whoami route does not serve
    principal = signature_verify(method="POST", target="/x", headers=headers, body=body, now=now)
    assert principal.partner_code == "acme-remit"
    for method, target, sent in [
        ("POST", "/x", b'{"amount": 999}'),
        ("POST", "/y", body),
        ("POST", "/x?extra=1", body),
        ("PUT", "/x", body),
    ]:
        fresh = sign_request(
            key_id=key_id,
            secret=secret,
            method="POST",
            target="/x",
            body=body,
            timestamp=int(time.time()),
        )
        with pytest.raises(SignatureRejected) as err:
            signature_verify(method=method, target=target, headers=fresh, body=sent, now=now)
        assert err.value.code == "signature_invalid"
    # and over HTTP: signed for one path, sent to another
    headers = sign_request(
        key_id=key_id,
        secret=secret,
        method="GET",
        target="/api/v1/partner/other",
        timestamp=int(time.time()),
    )
    assert error_code(client.get(WHOAMI, **meta(headers))) == "signature_invalid"
    headers = sign_request(
        key_id=key_id, secret=secret, method="GET", target=WHOAMI, timestamp=int(time.time())
    )
    assert error_code(client.get(WHOAMI + "?a=1", **meta(headers))) == "signature_invalid"
    # signed with a wrong secret
    assert error_code(call(client, key_id, "sk_live_wrong")) == "signature_invalid"


def test_wrong_algorithm_and_malformed_headers(client, key):
    key_id, secret = key
    resp = call(client, key_id, secret, **{"X-LW-Signature-Alg": "HMAC-SHA1"})
    assert error_code(resp) == "signature_algorithm_unsupported"
    assert resp["WWW-Authenticate"] == "LW-HMAC-SHA256"
    assert error_code(call(client, key_id, secret, **{"X-LW-Signature": None})) == (
        "signature_malformed"
    )
    resp = call(client, key_id, secret, **{"X-LW-Nonce": "short"})
    assert error_code(resp) == "signature_malformed"
    assert resp.json()["error"]["details"] == {"header": "X-LW-Nonce"}
    assert error_code(call(client, key_id, secret, **{"X-LW-Timestamp": "12.5"})) == (
        "signature_malformed"
    )
    assert error_code(call(client, key_id, secret, **{"X-LW-Signature": "zz" * 32})) == (
        "signature_malformed"
    )
    # no signature headers at all (e.g. a customer bearer token on a partner route)
    resp = client.get(WHOAMI, HTTP_AUTHORIZATION="Bearer lw_demo_amara_4f9c2e")
    assert error_code(resp) == "signature_malformed"


@pytest.mark.parametrize("skew", [-301, 301, -3600, 86400])
def test_stale_timestamp_either_way(client, key, skew):
    key_id, secret = key
    resp = call(client, key_id, secret, ts=int(time.time()) + skew)
    assert error_code(resp) == "timestamp_stale"
    details = resp.json()["error"]["details"]
    assert details["window_seconds"] == 300 and abs(details["server_time"] - time.time()) < 5


def test_timestamp_window_edges(key):
    key_id, secret = key
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    base = int(now.timestamp())
    for skew in (-300, 300):
        headers = sign_request(
            key_id=key_id, secret=secret, method="GET", target=WHOAMI, timestamp=base + skew
        )
        signature_verify(method="GET", target=WHOAMI, headers=headers, body=b"", now=now)
    headers = sign_request(
        key_id=key_id, secret=secret, method="GET", target=WHOAMI, timestamp=base - 301
    )
    with pytest.raises(SignatureRejected) as err:
        signature_verify(method="GET", target=WHOAMI, headers=headers, body=b"", now=now)
    assert err.value.code == "timestamp_stale"


def test_replayed_nonce_is_refused(client, key):
    key_id, secret = key
    headers = sign_request(
        key_id=key_id, secret=secret, method="GET", target=WHOAMI, timestamp=int(time.time())
    )
    assert client.get(WHOAMI, **meta(headers)).status_code == 200
    assert error_code(client.get(WHOAMI, **meta(headers))) == "nonce_replayed"
    # the same nonce with a new timestamp and a valid signature is still a replay
    again = sign_request(
        key_id=key_id,
        secret=secret,
        method="GET",
        target=WHOAMI,
        timestamp=int(time.time()) + 1,
        nonce=headers["X-LW-Nonce"],
    )
    assert error_code(client.get(WHOAMI, **meta(again))) == "nonce_replayed"
    assert RequestNonce.objects.filter(key_id=key_id).count() == 1


def test_failed_requests_do_not_burn_nonces(client, key):
    key_id, secret = key
    headers = sign_request(
        key_id=key_id, secret=secret, method="GET", target=WHOAMI, timestamp=int(time.time())
    )
    bad = {**headers, "X-LW-Signature": "0" * 64}
    assert error_code(client.get(WHOAMI, **meta(bad))) == "signature_invalid"
    assert client.get(WHOAMI, **meta(headers)).status_code == 200


def test_nonces_are_pruned_after_twice_the_window(key):
    key_id, secret = key
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    headers = sign_request(
        key_id=key_id, secret=secret, method="GET", target=WHOAMI, timestamp=int(now.timestamp())
    )
    signature_verify(method="GET", target=WHOAMI, headers=headers, body=b"", now=now)
    assert request_nonces_prune(now=now + timedelta(seconds=599)) == 0
    assert request_nonces_prune(now=now + timedelta(seconds=601)) == 1
    assert not RequestNonce.objects.exists()


def test_unknown_key(client, key):
    _, secret = key
    assert error_code(call(client, "pk_live_" + "0" * 24, secret)) == "key_unknown"


def test_rotated_key_works_during_overlap_and_not_after(client, key, partner):
    old_id, old_secret = key
    now = timezone.now()
    new_id, new_secret = partner_key_rotate(
        key_id=old_id, overlap_seconds=3600, actor="user:1", now=now
    )
    assert new_id != old_id and new_secret != old_secret
    # during the overlap both keys work (over HTTP, on the real clock)
    assert call(client, old_id, old_secret).status_code == 200
    assert call(client, new_id, new_secret).json()["key_id"] == new_id
    # after the overlap only the new one does
    later = now + timedelta(seconds=3601)
    for key_id, secret, ok in [(old_id, old_secret, False), (new_id, new_secret, True)]:
        headers = sign_request(
            key_id=key_id,
            secret=secret,
            method="GET",
            target=WHOAMI,
            timestamp=int(later.timestamp()),
        )
        if ok:
            signature_verify(method="GET", target=WHOAMI, headers=headers, body=b"", now=later)
        else:
            with pytest.raises(SignatureRejected) as err:
                signature_verify(method="GET", target=WHOAMI, headers=headers, body=b"", now=later)
            assert err.value.code == "key_expired"
    # an expiring key cannot be rotated again, and rotation is audited
    with pytest.raises(Conflict):
        partner_key_rotate(key_id=old_id, overlap_seconds=0, actor="user:1", now=later)
    rotation = AuditRecord.objects.get(action="partner_key.rotate", object_id=old_id)
    assert rotation.data["new_key_id"] == new_id and rotation.data["overlap_seconds"] == 3600
    views = {v.key_id: v for v in partner_key_list(partner_id=partner.pk)}
    assert views[old_id].live(now) and not views[old_id].live(later) and views[new_id].live(later)


def test_rotation_overlap_bounds(key):
    key_id, _ = key
    with pytest.raises(ValidationFailed):
        partner_key_rotate(key_id=key_id, overlap_seconds=-1, actor="user:1", now=timezone.now())
    with pytest.raises(ValidationFailed):
        partner_key_rotate(
            key_id=key_id, overlap_seconds=31 * 86400, actor="user:1", now=timezone.now()
        )
    with pytest.raises(NotFound):
        partner_key_rotate(
            key_id="pk_live_nope", overlap_seconds=0, actor="user:1", now=timezone.now()
        )


def test_revoked_key_and_inactive_partner(client, key, partner):
    key_id, secret = key
    assert call(client, key_id, secret).status_code == 200
    assert partner_key_revoke(key_id=key_id, actor="user:1", now=timezone.now())
    assert not partner_key_revoke(key_id=key_id, actor="user:1", now=timezone.now())
    assert error_code(call(client, key_id, secret)) == "key_revoked"
    assert AuditRecord.objects.filter(action="partner_key.revoke", object_id=key_id).count() == 1

    key_id, secret = partner_key_create(partner_id=partner.pk, actor="user:1", now=timezone.now())
    Partner.objects.filter(pk=partner.pk).update(status="suspended", status_reason="test")
    assert error_code(call(client, key_id, secret), 403) == "partner_suspended"
    with pytest.raises(Conflict):
        partner_key_create(partner_id=partner.pk, actor="user:1", now=timezone.now())


# The worked example of docs/api.md ("Partner signatures"): fixed inputs, known signature.
EXAMPLE = {
    "key_id": "pk_live_4f1c9a2b7d3e8f60a1b2c3d4",
    "secret": "sk_live_mR3v8XkQ2pZt7wYb5nLc9dHf4sJa6gUe1oKi0rTy3Ws",
    "method": "POST",
    "target": "/api/v1/partner/transfers?dry_run=1",
    "timestamp": 1795510800,
    "nonce": "9b2e4f6a8c0d1e3f5a7b9c1d",
    "body": b'{"amount":150000,"currency":"UGX","reference":"ACME-000123"}',
}


def test_worked_example_in_the_api_guide():
    headers = sign_request(**EXAMPLE)
    canonical = canonical_string(
        method=EXAMPLE["method"],
        target=EXAMPLE["target"],
        timestamp=str(EXAMPLE["timestamp"]),
        nonce=EXAMPLE["nonce"],
        body=EXAMPLE["body"],
    )
    body_hash = hashlib.sha256(EXAMPLE["body"]).hexdigest()
    assert canonical.split("\n") == [
        "POST",
        "/api/v1/partner/transfers?dry_run=1",
        "1795510800",
        "9b2e4f6a8c0d1e3f5a7b9c1d",
        body_hash,
    ]
    guide = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    assert body_hash in guide
    assert headers["X-LW-Signature"] in guide, headers["X-LW-Signature"]


def test_data_key_rotation_reseals_partner_secrets_and_device_names(settings, partner, now):
    import base64
    import os

    from django.contrib.auth import get_user_model

    from lightway.application.authentication.sessions import device_list, device_name_context
    from lightway.application.datakeys.rotation import keys_rotate, keys_status
    from lightway.security import crypto
    from lightway.security.apiauth.models import Device

    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    settings.LIGHTWAY_DATA_KEYS = f"v1:{k1}"
    crypto.keyring_cache_clear()
    try:
        key_id, secret = partner_key_create(partner_id=partner.pk, actor="user:1", now=now)
        user = get_user_model().objects.create(username="dev-owner")
        device = Device(user=user, device_id_hash="d" * 64, first_seen_at=now, last_seen_at=now)
        device.name_ct = crypto.encrypt("Tecno Spark", context=device_name_context(device.id))
        device.save()
        assert keys_status()["apiauth.PartnerApiKey.secret_ct"] == {"v1": 1}

        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2},v1:{k1}"
        crypto.keyring_cache_clear()
        keys_rotate(now=now)
        status = keys_status()
        assert status["apiauth.PartnerApiKey.secret_ct"] == {"v2": 1}
        assert status["apiauth.Device.name_ct"] == {"v2": 1}

        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2}"  # the old key is gone
        crypto.keyring_cache_clear()
        headers = sign_request(
            key_id=key_id,
            secret=secret,
            method="GET",
            target=WHOAMI,
            timestamp=int(now.timestamp()),
        )
        principal = signature_verify(
            method="GET", target=WHOAMI, headers=headers, body=b"", now=now
        )
        assert principal.key_id == key_id
        assert device_list(user_id=user.pk)[0].name == "Tecno Spark"
    finally:
        crypto.keyring_cache_clear()


def test_partner_key_cli(partner, capsys):
    from lightway.interfaces.cli.main import main

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("partner-key", "create", "--partner", "acme-remit")
    assert code == 0, err
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    key_id, secret = lines["Key id"].strip(), lines["Secret"].strip()
    assert "shown only now" in err
    now = timezone.now()
    headers = sign_request(
        key_id=key_id, secret=secret, method="GET", target=WHOAMI, timestamp=int(now.timestamp())
    )
    assert signature_verify(method="GET", target=WHOAMI, headers=headers, body=b"", now=now)

    code, out, err = run("partner-key", "rotate", "--key", key_id, "--overlap-hours", "2")
    assert code == 0, err
    new_id = dict(line.split(":", 1) for line in out.strip().splitlines())["Key id"].strip()
    assert PartnerApiKey.objects.get(key_id=key_id).expires_at is not None
    code, out, _ = run("partner-key", "list", "--partner", "acme-remit")
    assert code == 0 and new_id in out and "expires" in out and "live" in out
    assert secret not in out

    assert run("partner-key", "revoke", "--key", new_id)[0] == 0
    assert "already revoked" in run("partner-key", "revoke", "--key", new_id)[1]
    code, _, err = run("partner-key", "create", "--partner", "nobody")
    assert code == 1 and "no partner with code 'nobody'" in err
    code, _, err = run("partner-key", "rotate", "--key", "pk_live_unknown")
    assert code == 1 and "API key not found" in err
    with pytest.raises(SystemExit):
        main(["partner-key", "rotate", "--key", key_id, "--overlap-hours", "9999"])
