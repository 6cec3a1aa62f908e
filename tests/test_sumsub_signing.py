"""Sumsub signatures: the reference note's test vectors (§2 and §5.2) and refusals."""

from __future__ import annotations

import pytest

from lightway.integration.sumsub.signing import (
    UnknownDigestAlgorithm,
    payload_digest,
    payload_digest_valid,
    request_signature,
    request_signature_valid,
)

SECRET = "test-secret-key"
TS = "1700000000"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "GET",
            "/resources/applicants/65a1b2c3d4e5f60718293a4b/status",
            None,
            "f087df0522e5347fc814c41a3622cacbfdb96de2b552b44aab49ec7307e67f5c",
        ),
        (
            "POST",
            "/resources/applicants?levelName=basic-kyc-level",
            b'{"externalUserId":"user-42","phone":"+256700000001"}',
            "8ddc7417881d8ef19728bdb7a652a8df58a81e2167c94259e0fd3d0e8ac9cb01",
        ),
        (
            "POST",
            "/resources/accessTokens?userId=user%2B42&levelName=basic-kyc-level&ttlInSecs=600",
            None,
            "7cbd506d64f30ad6559bf25a9d580de9bf561b9fd4ca28f55039de6956e1b568",
        ),
    ],
)
def test_request_signature_vectors(method, path, body, expected):
    assert (
        request_signature(secret_key=SECRET, ts=TS, method=method, path_with_query=path, body=body)
        == expected
    )
    # int ts, lower-case method and bytes path sign the same string
    assert (
        request_signature(
            secret_key=SECRET.encode(),
            ts=int(TS),
            method=method.lower(),
            path_with_query=path.encode(),
            body=body,
        )
        == expected
    )
    assert request_signature_valid(
        secret_key=SECRET, ts=TS, method=method, path_with_query=path, body=body, signature=expected
    )


def test_request_signature_covers_every_part():
    base = dict(secret_key=SECRET, ts=TS, method="POST", path_with_query="/a?b=c", body=b"{}")
    signature = request_signature(**base)
    for change in (
        {"ts": "1700000001"},
        {"method": "PUT"},
        {"path_with_query": "/a?b=d"},
        {"path_with_query": "/a?b=%20"},
        {"body": b"{} "},
        {"body": None},
        {"secret_key": "other"},
    ):
        assert not request_signature_valid(**{**base, **change}, signature=signature), change
    # an empty body signs nothing, not "{}" or "null"
    assert request_signature(**{**base, "body": None}) == request_signature(**{**base, "body": b""})


WEBHOOK_BODY = (
    b'{"applicantId":"65a1b2c3d4e5f60718293a4b","type":"applicantReviewed",'
    b'"reviewStatus":"completed"}'
)
DIGESTS = {
    "HMAC_SHA1_HEX": "d415e8d8a581f2a106e1f0e687c089b3cf119244",
    "HMAC_SHA256_HEX": "5cac8c28e2f5003e5a8eb10c7b306ee75bc2d5e5c7bc8e0416b95d9b8d3f47b5",
    "HMAC_SHA512_HEX": (
        "e99cf0f99f52993aab3b0fe2958cd8b93b1e1acdf5bbd4e572d9b17a448562acc9f6b18d444e78744360"
        "f954a4a3352c7fbaac54667df04c66c9c2ef21fe084f"
    ),
}


@pytest.mark.parametrize(("alg", "expected"), sorted(DIGESTS.items()))
def test_webhook_digest_vectors(alg, expected):
    assert payload_digest(secret="webhook-secret", body=WEBHOOK_BODY, alg=alg) == expected
    assert payload_digest_valid(
        secret="webhook-secret", body=WEBHOOK_BODY, alg=alg, digest=expected
    )
    # hex case does not matter, the body and the secret do
    assert payload_digest_valid(
        secret="webhook-secret", body=WEBHOOK_BODY, alg=alg, digest=expected.upper()
    )
    assert not payload_digest_valid(
        secret="webhook-secret", body=WEBHOOK_BODY + b" ", alg=alg, digest=expected
    )
    assert not payload_digest_valid(
        secret="app-token-secret", body=WEBHOOK_BODY, alg=alg, digest=expected
    )


def test_webhook_digest_of_another_algorithm_is_refused():
    assert not payload_digest_valid(
        secret="webhook-secret",
        body=WEBHOOK_BODY,
        alg="HMAC_SHA256_HEX",
        digest=DIGESTS["HMAC_SHA1_HEX"],
    )


@pytest.mark.parametrize("alg", [None, "", "HMAC_MD5_HEX", "hmac_sha256_hex", "SHA256"])
def test_unknown_digest_algorithm_is_refused(alg):
    with pytest.raises(UnknownDigestAlgorithm):
        payload_digest_valid(
            secret="webhook-secret", body=WEBHOOK_BODY, alg=alg, digest=DIGESTS["HMAC_SHA256_HEX"]
        )


def test_empty_secret_or_digest_never_verifies():
    assert not payload_digest_valid(
        secret="", body=WEBHOOK_BODY, alg="HMAC_SHA256_HEX", digest=DIGESTS["HMAC_SHA256_HEX"]
    )
    assert not payload_digest_valid(
        secret="webhook-secret", body=WEBHOOK_BODY, alg="HMAC_SHA256_HEX", digest=""
    )
    assert not payload_digest_valid(
        secret="webhook-secret", body=WEBHOOK_BODY, alg="HMAC_SHA256_HEX", digest="é" * 64
    )
