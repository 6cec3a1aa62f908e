"""Mobile sign-in endpoints (mounted at /api/v1/auth): login, device confirmation by SMS,
refresh-token rotation, logout and the customer's devices. Thin: one application call each."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router
from ninja.responses import Status

from lightway.application.authentication.errors import SessionRequired
from lightway.application.authentication.sessions import (
    TokenPair,
    device_list,
    device_revoke,
    login_start,
    login_verify,
    logout,
    tokens_refresh,
)
from lightway.interfaces.api.schemas import (
    DeviceOut,
    ErrorOut,
    LoginChallengeOut,
    LoginIn,
    LoginVerifyIn,
    RefreshIn,
    TokensOut,
)
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.interfaces.web.client import client_address
from lightway.security.apiauth.access import ApiPrincipal

router = Router(tags=["authentication"])

PUBLIC_ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}
SESSION_ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    422: ErrorOut,
}


def _principal(request: HttpRequest) -> ApiPrincipal:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def tokens_out(pair: TokenPair) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "access_token": pair.access_token,
        "expires_in": pair.access_expires_in,
        "access_expires_at": pair.access_expires_at,
        "refresh_token": pair.refresh_token,
        "refresh_expires_at": pair.refresh_expires_at,
        "device_id": pair.device_id,
    }


@router.post(
    "/login",
    auth=None,
    **api_action("public"),
    response={200: TokensOut, 202: LoginChallengeOut, **PUBLIC_ERRORS},
    summary="Sign in with phone number (or username) and password",
    description=(
        "On a device already confirmed: 200 with tokens. On a new device: 202 with a "
        "`challenge_id`; a code is sent by SMS, confirm with `POST /auth/login/verify`. An "
        "account with an authenticator app must send `totp` (401 `totp_required` without "
        "it). Unknown login and wrong password are the same 401 `login_failed`; repeated "
        "failures lock the login with growing delays (429 `too_many_attempts`, "
        "`Retry-After`). Staff accounts are refused (403 `staff_not_allowed`)."
    ),
)
def auth_login(request: HttpRequest, payload: LoginIn) -> Any:
    outcome = login_start(
        login=payload.login,
        password=payload.password,
        device_id=payload.device_id,
        device_name=payload.device_name,
        country=payload.country,
        totp=payload.totp,
        client=client_address(request),
        now=timezone.now(),
    )
    if outcome.tokens is not None:
        return Status(200, tokens_out(outcome.tokens))
    challenge = outcome.challenge
    assert challenge is not None
    return Status(
        202,
        {
            "challenge_id": challenge.challenge_id,
            "channel": "sms",
            "sent_to": challenge.sent_to,
            "expires_at": challenge.expires_at,
        },
    )


@router.post(
    "/login/verify",
    auth=None,
    **api_action("public"),
    response={200: TokensOut, **PUBLIC_ERRORS},
    summary="Confirm a new device with the SMS code and get tokens",
)
def auth_login_verify(request: HttpRequest, payload: LoginVerifyIn) -> Any:
    pair = login_verify(challenge_id=payload.challenge_id, code=payload.code, now=timezone.now())
    return tokens_out(pair)


@router.post(
    "/refresh",
    auth=None,
    **api_action("public"),
    response={200: TokensOut, **PUBLIC_ERRORS},
    summary="Exchange a refresh token for new tokens (the refresh token is used up)",
    description=(
        "Each refresh token works once. Presenting a used one again, or one from another "
        "device id, ends the whole session (401 `refresh_invalid`): sign in again."
    ),
)
def auth_refresh(request: HttpRequest, payload: RefreshIn) -> Any:
    pair = tokens_refresh(
        refresh_token=payload.refresh_token, device_id=payload.device_id, now=timezone.now()
    )
    return tokens_out(pair)


@router.post(
    "/logout",
    response={204: None, **SESSION_ERRORS},
    **api_action("self.security"),
    summary="End this session (its access and refresh tokens stop working)",
)
def auth_logout(request: HttpRequest) -> Any:
    api_requires(request, "self.security")
    principal = _principal(request)
    if principal.kind != "session" or principal.device_id is None or principal.family is None:
        raise SessionRequired()
    logout(
        user_id=principal.user_id,
        device_id=principal.device_id,
        family=principal.family,
        now=timezone.now(),
    )
    return Status(204, None)


@router.get(
    "/devices",
    response={200: list[DeviceOut], **SESSION_ERRORS},
    summary="Your devices",
    **api_action("self.security"),
)
def auth_devices(request: HttpRequest) -> Any:
    api_requires(request, "self.security")
    principal = _principal(request)
    return [
        {
            "id": d.id,
            "name": d.name,
            "first_seen_at": d.first_seen_at,
            "last_seen_at": d.last_seen_at,
            "trusted_at": d.trusted_at,
            "signed_in": d.signed_in,
            "current": d.id == principal.device_id,
        }
        for d in device_list(user_id=principal.user_id)
    ]


@router.delete(
    "/devices/{device_id}",
    response={204: None, **SESSION_ERRORS},
    **api_action("self.security"),
    summary="Sign a device out for good (its next sign-in needs an SMS code)",
)
def auth_device_revoke(request: HttpRequest, device_id: uuid.UUID) -> Any:
    api_requires(request, "self.security")
    device_revoke(user_id=_principal(request).user_id, device_id=device_id, now=timezone.now())
    return Status(204, None)
