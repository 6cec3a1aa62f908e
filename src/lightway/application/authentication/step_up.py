"""Step-up: risky actions in a mobile session need a fresh SMS code bound to the request.

Rules for ``POST /transfers`` made with a mobile access token:

- ``amount``: the amount is above the currency's step-up threshold
  (``LIGHTWAY_STEP_UP_AMOUNT_MINOR``, minor units; defaults in ``DEFAULT_THRESHOLDS``);
- ``new_payee``: the client has never paid the destination wallet successfully before.

The first attempt is answered ``step_up_required`` (403) with a challenge id, and a
``step_up_code`` SMS is sent. The client repeats the *same* request with the headers
``X-Step-Up-Challenge`` and ``X-Step-Up-Code``. The code is bound to the request (its
context is a hash of the client and the transfer's fields), single-use, expires with
``LIGHTWAY_OTP_TTL_SECONDS``, and wrong codes count toward the ``otp:step_up:<user>``
lockout. A retry of an already answered request (same Idempotency-Key) is not challenged:
it replays the first answer.

The MoMo customer API (``POST /momo/withdrawals`` and ``/momo/payouts``) has the same
rules (``momo_payout_with_step_up``): ``amount`` for both, and ``new_payee`` for a payout
to a MoMo number this client has never paid successfully before.

Legacy API tokens (``lw_...``, issued by operators for a customer's own server-side
automation) are not challenged: there is no person holding a phone at the other end, and
those tokens never leave the server they were installed on. Only mobile sessions, whose
tokens live on phones that get lost and stolen, are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import transaction

from lightway.application.authentication.errors import (
    StepUpRejected,
    StepUpRequired,
    TooManyAttempts,
)
from lightway.application.identity.profiles import profile_pii
from lightway.application.notifications.service import notify
from lightway.application.payments.skeleton import PaymentOutcome
from lightway.application.ratelimits import sms_rate_check
from lightway.application.transactions.transfers import (
    TransferRequest,
    transfer_create,
)
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile
from lightway.data.momo.selectors import momo_payout_succeeded_to
from lightway.data.money import Money, MoneyError, currency
from lightway.data.wallets.models import Transfer, TransferStatus
from lightway.data.wallets.selectors import wallet_states
from lightway.security.apiauth.access import (
    CHALLENGE_PREFIX,
    TokenInvalid,
    signed_dumps,
    signed_loads,
)
from lightway.security.codes import CodeRejected, code_issue, code_verify
from lightway.security.crypto import pii_token
from lightway.security.models import OneTimeCode
from lightway.security.throttle import Locked

STEP_UP_PURPOSE = "step_up"
# An SMS for the same request is not sent again within this many seconds: the client gets
# the live challenge back instead (no SMS flood by repeating a request).
RESEND_AFTER_SECONDS = 60

# Minor units; roughly USD 150-300 each. Override per currency with
# LIGHTWAY_STEP_UP_AMOUNT_MINOR="UGX:1000000,GHS:200000".
DEFAULT_THRESHOLDS: dict[str, int] = {
    "UGX": 1_000_000,  # UGX 1,000,000
    "GHS": 200_000,  # GHS 2,000.00
    "RWF": 300_000,  # RWF 300,000
    "ZMW": 500_000,  # ZMW 5,000.00
    "XOF": 150_000,  # XOF 150,000
    "XAF": 150_000,  # XAF 150,000
    "KES": 3_000_000,  # KES 30,000.00
    "NGN": 30_000_000,  # NGN 300,000.00
    "TZS": 60_000_000,  # TZS 600,000.00
    "ZAR": 400_000,  # ZAR 4,000.00
    "USD": 20_000,  # USD 200.00
    "EUR": 20_000,  # EUR 200.00
    "GBP": 20_000,  # GBP 200.00
}


@dataclass(frozen=True)
class StepUpProof:
    challenge_id: str
    code: str


@dataclass(frozen=True)
class _Action:
    """What a step-up code confirms: ``context`` binds the code to the request, ``label``
    names the action in audit records, ``noun`` in the error message; ``describe`` gives
    the SMS's text (called only when an SMS goes out)."""

    context: str
    label: str
    noun: str
    describe: Callable[[], str]


@cache
def _parse_thresholds(raw: str) -> dict[str, int]:
    out = dict(DEFAULT_THRESHOLDS)
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        code, sep, amount = part.partition(":")
        code = code.strip().upper()
        try:
            currency(code)
            value = int(amount.strip())
        except (MoneyError, ValueError):
            value = -1
        if not sep or value < 0:
            raise ValueError(
                f"LIGHTWAY_STEP_UP_AMOUNT_MINOR entry {part!r} must look like 'UGX:1000000'"
            )
        out[code] = value
    return out


def step_up_thresholds() -> dict[str, int]:
    """Currency -> amount (minor units) above which a transfer needs a step-up code."""
    return _parse_thresholds(str(getattr(settings, "LIGHTWAY_STEP_UP_AMOUNT_MINOR", "")))


def transfer_risks(*, client_id: int, request: TransferRequest) -> list[str]:
    """Why this transfer needs a step-up code: [] or some of "amount", "new_payee"."""
    reasons = []
    threshold = step_up_thresholds().get(request.currency)
    if threshold is not None and request.amount > threshold:
        reasons.append("amount")
    paid_before = Transfer.objects.filter(
        client_id=client_id,
        destination_wallet_id=request.destination_wallet_id,
        status__in=[TransferStatus.SUCCEEDED, TransferStatus.REVERSED],
    ).exists()
    if not paid_before:
        reasons.append("new_payee")
    return reasons


def _context(client_id: int, request: TransferRequest) -> str:
    digest = hashlib.sha256(f"{client_id}:{request.digest()}".encode()).hexdigest()
    return f"transfer:{digest}"


def _transfer_action(client_id: int, request: TransferRequest) -> _Action:
    return _Action(
        context=_context(client_id, request),
        label="transfer",
        noun="transfer",
        describe=lambda: _action_text(client_id, request),
    )


def _challenge(client_id: int, code_id: int, context: str, expires_at: datetime) -> str:
    return signed_dumps(
        prefix=CHALLENGE_PREFIX,
        typ="step_up",
        claims={
            "sub": client_id,
            "cid": code_id,
            "ctx": context[-16:],
            "exp": int(expires_at.timestamp()),
        },
    )


ACTION_TEXT = {"en": "a transfer of {amount}", "fr": "un transfert de {amount}"}


MOMO_ACTION_TEXT = {
    "withdrawal": {"en": "a MoMo withdrawal of {amount}", "fr": "un retrait MoMo de {amount}"},
    "payout": {"en": "a MoMo payout of {amount}", "fr": "un paiement MoMo de {amount}"},
}


def _text_for(client_id: int, texts: dict[str, str], amount_minor: int, currency_code: str) -> str:
    """``texts`` (by language) for the amount, in the customer's language."""
    try:
        amount = Money(amount_minor, currency(currency_code)).format()
    except MoneyError:
        amount = f"{currency_code} {amount_minor}"
    language = Profile.objects.filter(user_id=client_id).values_list("language", flat=True).first()
    return texts.get(language or "en", texts["en"]).format(amount=amount)


def _action_text(client_id: int, request: TransferRequest) -> str:
    """What the SMS asks to confirm, in the customer's language."""
    return _text_for(client_id, ACTION_TEXT, request.amount, request.currency)


def _require(client_id: int, action: _Action, reasons: list[str], now: datetime) -> None:
    """Send a code (unless one for this request went out moments ago) and raise."""
    context = action.context
    recent = (
        OneTimeCode.objects.filter(
            purpose=STEP_UP_PURPOSE,
            user_id=client_id,
            context=context,
            used_at__isnull=True,
            expires_at__gt=now,
            created_at__gt=now - timedelta(seconds=RESEND_AFTER_SECONDS),
        )
        .order_by("-created_at")
        .first()
    )
    if recent is not None:
        code_id, expires_at = recent.pk, recent.expires_at
    else:
        text = action.describe()
        _sms_rate_check(client_id, now)
        with transaction.atomic():
            issued = code_issue(
                purpose=STEP_UP_PURPOSE, user_id=client_id, now=now, context=context
            )
            notify(
                template="step_up_code",
                context={"code": issued.code, "action": text},
                now=now,
                user_id=client_id,
                critical=True,
            )
            audit_record(
                actor=f"user:{client_id}",
                action="step_up.challenge",
                object_type="auth.user",
                object_id=str(client_id),
                data={"action": action.label, "reasons": reasons},
                now=now,
            )
        code_id, expires_at = issued.id, issued.expires_at
    raise StepUpRequired(
        f"this {action.noun} needs confirmation: we sent a code by SMS; repeat the request with "
        "the headers X-Step-Up-Challenge and X-Step-Up-Code",
        details={
            "challenge_id": _challenge(client_id, code_id, context, expires_at),
            "reasons": reasons,
            "expires_at": expires_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
    )


def _sms_rate_check(client_id: int, now: datetime) -> None:
    """Step-up codes count against the SMS limit of the customer's number like any SMS a
    caller can ask for (``application.ratelimits``)."""
    profile = Profile.objects.filter(user_id=client_id).first()
    phone = profile_pii(profile).phone if profile is not None else None
    sms_rate_check(client="", phone=phone or f"user:{client_id}", now=now)


def _verify(client_id: int, action: _Action, proof: StepUpProof, now: datetime) -> None:
    context = action.context
    try:
        claims = signed_loads(proof.challenge_id, prefix=CHALLENGE_PREFIX, typ="step_up", now=now)
    except TokenInvalid:
        raise StepUpRejected("the step-up challenge is not valid or has expired") from None
    if claims.get("sub") != client_id or claims.get("ctx") != context[-16:]:
        raise StepUpRejected("the step-up challenge is for another request")
    code_id = claims.get("cid")
    if not (
        isinstance(code_id, int)
        and OneTimeCode.objects.filter(
            pk=code_id, purpose=STEP_UP_PURPOSE, user_id=client_id, used_at__isnull=True
        ).exists()
    ):
        raise StepUpRejected(
            "the step-up challenge was used or replaced; send the request without a code to "
            "get a new one"
        )
    try:
        row = code_verify(
            purpose=STEP_UP_PURPOSE, user_id=client_id, code=proof.code, now=now, context=context
        )
    except Locked as exc:
        raise TooManyAttempts(exc.retry_after) from None
    except CodeRejected:
        raise StepUpRejected() from None
    if row.pk != claims.get("cid"):
        raise StepUpRejected()
    with transaction.atomic():
        audit_record(
            actor=f"user:{client_id}",
            action="step_up.passed",
            object_type="auth.user",
            object_id=str(client_id),
            data={"action": action.label},
            now=now,
        )


def _destination_exists(request: TransferRequest) -> bool:
    states = wallet_states(first=request.source_wallet_id, second=request.destination_wallet_id)
    return request.destination_wallet_id in states


def transfer_create_with_step_up(
    *,
    client_id: int,
    idempotency_key: str,
    request: TransferRequest,
    interactive: bool,
    proof: StepUpProof | None,
    now: datetime,
) -> PaymentOutcome:
    """``transfer_create`` behind the step-up rules (applied when ``interactive``: the
    request comes from a mobile session). Raises StepUpRequired, StepUpRejected or
    TooManyAttempts before anything is recorded."""
    transfer_step_up(
        client_id=client_id,
        idempotency_key=idempotency_key,
        request=request,
        interactive=interactive,
        proof=proof,
        now=now,
    )
    return transfer_create(
        client_id=client_id, idempotency_key=idempotency_key, request=request, now=now
    )


def transfer_step_up(
    *,
    client_id: int,
    idempotency_key: str,
    request: TransferRequest,
    interactive: bool,
    proof: StepUpProof | None,
    now: datetime,
) -> None:
    """The step-up rules of a transfer on their own (``transfer_create_with_step_up``
    applies them, then records the transfer): raises StepUpRequired (the SMS sent),
    StepUpRejected or TooManyAttempts; returns when the transfer may go ahead. For a
    payment made of several steps whose last is this transfer (a cross-currency send),
    so the code is asked for before the first step moves anything."""
    if interactive and not _answered(client_id, idempotency_key):
        reasons = transfer_risks(client_id=client_id, request=request)
        # An unknown destination gets its 404 from transfer_create, without an SMS.
        if reasons and _destination_exists(request):
            action = _transfer_action(client_id, request)
            if proof is None:
                _require(client_id, action, reasons, now)
            else:
                _verify(client_id, action, proof, now)


def _answered(client_id: int, idempotency_key: str) -> bool:
    return Transfer.objects.filter(client_id=client_id, idempotency_key=idempotency_key).exists()


def momo_payout_risks(
    *, client_id: int, kind: str, currency: str, amount_minor: int, msisdn: str | None
) -> list[str]:
    """Why this MoMo withdrawal or payout needs a step-up code: [] or some of "amount",
    "new_payee" (payouts only: no succeeded payout of this client to ``msisdn`` yet)."""
    reasons = []
    threshold = step_up_thresholds().get(currency)
    if threshold is not None and amount_minor > threshold:
        reasons.append("amount")
    if kind == "payout" and not momo_payout_succeeded_to(
        client_id=client_id, party_token=pii_token("msisdn", msisdn or "")
    ):
        reasons.append("new_payee")
    return reasons


def _momo_action(
    *, client_id: int, kind: str, currency: str, amount_minor: int, msisdn: str | None
) -> _Action:
    party = pii_token("msisdn", msisdn) if msisdn else ""
    bound = f"{client_id}:momo:{kind}:{currency}:{amount_minor}:{party}"
    digest = hashlib.sha256(bound.encode()).hexdigest()
    texts = MOMO_ACTION_TEXT[kind]
    return _Action(
        context=f"momo_{kind}:{digest}",
        label=f"momo_{kind}",
        noun=f"MoMo {kind}",
        describe=lambda: _text_for(client_id, texts, amount_minor, currency),
    )


def momo_payout_with_step_up(
    *,
    client_id: int,
    idempotency_key: str,
    kind: str,
    currency: str,
    amount_minor: int,
    msisdn: str | None,
    interactive: bool,
    proof: StepUpProof | None,
    now: datetime,
    start: Callable[[], Transfer],
    check: Callable[[], None] | None = None,
) -> Transfer:
    """``start()`` (a MoMo withdrawal or payout: ``kind`` "withdrawal" or "payout") behind
    the step-up rules, applied when ``interactive`` (a mobile session). ``msisdn`` is the
    normalised number paid (None for a withdrawal: the customer's own number). Raises
    StepUpRequired, StepUpRejected or TooManyAttempts before anything is recorded; a
    retry of an answered Idempotency-Key is not challenged. ``check()`` raises what
    ``start()`` would refuse anyway; it runs before a code is asked for or verified, so no
    code is sent (or spent) for a request that cannot go ahead."""
    if kind not in MOMO_ACTION_TEXT:
        raise ValueError(f"unknown MoMo step-up kind {kind!r}")
    if interactive and not _answered(client_id, idempotency_key):
        reasons = momo_payout_risks(
            client_id=client_id,
            kind=kind,
            currency=currency,
            amount_minor=amount_minor,
            msisdn=msisdn,
        )
        if reasons:
            if check is not None:
                check()
            action = _momo_action(
                client_id=client_id,
                kind=kind,
                currency=currency,
                amount_minor=amount_minor,
                msisdn=msisdn,
            )
            if proof is None:
                _require(client_id, action, reasons, now)
            else:
                _verify(client_id, action, proof, now)
    return start()
