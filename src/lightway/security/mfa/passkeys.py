"""WebAuthn ceremonies (registration and authentication) with the ``webauthn`` package.

The relying party is configured by ``LIGHTWAY_WEBAUTHN_RP_ID`` (a host name, default the
host of ``LIGHTWAY_PUBLIC_URL``) and the expected origin is ``LIGHTWAY_PUBLIC_URL``. The
caller keeps the challenge between the two halves of a ceremony (the web session) and
hands it back; a challenge is used once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)


class PasskeyRejected(Exception):
    """The browser's answer does not prove the credential (one message, no detail leak)."""

    def __init__(self, message: str = "the passkey could not be verified") -> None:
        super().__init__(message)


def public_url() -> str:
    return str(settings.LIGHTWAY_PUBLIC_URL).rstrip("/")


def rp_id() -> str:
    configured = str(getattr(settings, "LIGHTWAY_WEBAUTHN_RP_ID", "") or "")
    return configured or (urlsplit(public_url()).hostname or "localhost")


def expected_origins() -> list[str]:
    extra = getattr(settings, "LIGHTWAY_WEBAUTHN_ORIGINS", ()) or ()
    return [public_url(), *[str(o).rstrip("/") for o in extra]]


@dataclass(frozen=True)
class Ceremony:
    options_json: str  # PublicKeyCredentialCreationOptions / RequestOptions as JSON
    challenge: str  # base64url; keep it server-side until the answer comes back


@dataclass(frozen=True)
class NewCredential:
    credential_id: str
    public_key: bytes
    sign_count: int
    transports: list[str]


def _descriptors(existing: list[tuple[str, list[str]]]) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for cred_id, transports in existing:
        known = []
        for t in transports:
            try:
                known.append(AuthenticatorTransport(t))
            except ValueError:
                continue
        out.append(
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(cred_id), transports=known or None)
        )
    return out


def registration_begin(
    *, user_handle: bytes, user_name: str, existing: list[tuple[str, list[str]]]
) -> Ceremony:
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name="LightWay MoMo",
        user_id=user_handle,
        user_name=user_name,
        user_display_name=user_name,
        exclude_credentials=_descriptors(existing),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))


def registration_finish(*, response_json: str, challenge: str) -> NewCredential:
    try:
        verified = verify_registration_response(
            credential=response_json,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(),
        )
        transports = json.loads(response_json).get("response", {}).get("transports") or []
    except (WebAuthnException, ValueError, TypeError, AttributeError) as exc:
        raise PasskeyRejected() from exc
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[str(t) for t in transports if isinstance(t, str)][:8],
    )


def authentication_begin(*, allowed: list[tuple[str, list[str]]]) -> Ceremony:
    options = generate_authentication_options(
        rp_id=rp_id(),
        allow_credentials=_descriptors(allowed),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))


def credential_id_of(response_json: str) -> str:
    """The credential id the browser says it used (not yet verified)."""
    try:
        value = json.loads(response_json).get("id")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value or len(value) > 1400:
        raise PasskeyRejected()
    return value


def authentication_finish(
    *, response_json: str, challenge: str, public_key: bytes, sign_count: int
) -> int:
    """Verify an assertion; returns the authenticator's new signature counter."""
    try:
        verified = verify_authentication_response(
            credential=response_json,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(),
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
        )
    except (WebAuthnException, ValueError, TypeError, AttributeError) as exc:
        raise PasskeyRejected() from exc
    return int(verified.new_sign_count)
