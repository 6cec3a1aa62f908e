"""Customer MTN MoMo endpoints, mounted at /api/v1/momo: deposit from MoMo (request-to-pay
to the customer's phone), withdraw to the customer's own MoMo number, pay out to any MoMo
number, and read a MoMo transfer's status.

Each create call needs an ``Idempotency-Key`` header: a retry with the same key and body
returns the first transfer (200, ``Idempotent-Replayed: true``); the same key with another
body is a 409. Creating answers 201 as soon as the payment is recorded and queued: MoMo
decides later, so clients read ``GET /momo/transfers/{id}`` until ``terminal`` is true.

The handlers translate HTTP and make one application call
(``lightway.application.momo.flows``); the status shape is built once here and reused by the
customer panel's status page.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Field, Header, Router, Schema
from ninja.responses import NinjaJSONEncoder
from pydantic import ConfigDict

from lightway.application.authentication.step_up import StepUpProof, momo_payout_with_step_up
from lightway.application.errors import NotFound
from lightway.application.momo import flows
from lightway.application.text import printable_pattern
from lightway.application.transactions.transfers import transfer_get
from lightway.data.momo.models import MomoRequest, RequestStatus
from lightway.data.money import Money, MoneyError
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.interfaces.api.errors import STATUS_BY_CODE, error_response
from lightway.interfaces.api.schemas import (
    CURRENCY_PATTERN,
    MAX_AMOUNT,
    MSISDN_PATTERN,
    ErrorOut,
    IdempotencyKey,
    MinorUnits,
)
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.security.apiauth.access import ApiPrincipal

router = Router(tags=["momo"])

MOMO_KINDS = frozenset({TransferKind.DEPOSIT, TransferKind.WITHDRAWAL, TransferKind.PAYOUT})

ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}

# --- schemas ---------------------------------------------------------------------------------


class _MoneyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    currency: str = Field(
        pattern=CURRENCY_PATTERN,
        description="The wallet's currency; MoMo must serve it",
        examples=["UGX"],
    )
    amount: MinorUnits = Field(
        gt=0, le=MAX_AMOUNT, description="Integer amount in the currency's minor unit"
    )


class MomoDepositIn(_MoneyIn):
    msisdn: str | None = Field(
        default=None,
        pattern=MSISDN_PATTERN,
        description=(
            "The MoMo number that pays (it gets the approval prompt). Default: your own "
            "verified phone number"
        ),
        examples=["+256772123401"],
    )
    message: str = Field(
        default="",
        max_length=160,
        pattern=printable_pattern(max_length=160),
        description="Shown to the payer in the approval prompt",
    )


class MomoWithdrawalIn(_MoneyIn):
    note: str = Field(default="", max_length=160, pattern=printable_pattern(max_length=160))


class MomoPayoutIn(_MoneyIn):
    msisdn: str = Field(
        pattern=MSISDN_PATTERN, description="The MoMo number to pay", examples=["+256772123402"]
    )
    note: str = Field(default="", max_length=160, pattern=printable_pattern(max_length=160))
    beneficiary_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        pattern=printable_pattern(min_length=1, max_length=120),
        description=(
            "Optional name check: the payout is refused unless the MoMo account's "
            "registered name matches"
        ),
    )


class MomoTransferOut(Schema):
    id: uuid.UUID
    kind: str = Field(description="deposit | withdrawal | payout")
    status: str = Field(
        description="The transfer: created, held, submitted, pending, succeeded, failed"
    )
    phase: str = Field(
        description=(
            "Plain progress: submitted, waiting_for_approval (deposits: approve on the "
            "phone), processing, succeeded, failed"
        )
    )
    terminal: bool = Field(description="True once succeeded or failed: stop polling")
    currency: str
    amount: int = Field(description="Minor units")
    fee: int = Field(description="Minor units, paid on top of the amount")
    failure_code: str
    failure_message: str
    momo_status: str = Field(
        description="The last status MoMo reported (PENDING, SUCCESSFUL, FAILED, ...); "
        "empty until MoMo has answered"
    )
    momo_reason_code: str = Field(description="MoMo's reason code when it failed")
    momo_reason_message: str
    momo_transaction_id: str = Field(description="MoMo's financialTransactionId, once paid")
    created_at: datetime
    updated_at: datetime


# --- the status shape (shared with the customer panel) ------------------------------------------


def momo_phase(transfer: Transfer, req: MomoRequest | None) -> str:
    """Where a MoMo transfer is, in the customer's terms."""
    if transfer.status == TransferStatus.SUCCEEDED:
        return "succeeded"
    if transfer.status in (TransferStatus.FAILED, TransferStatus.REVERSED):
        return "failed"
    if req is None or req.status == RequestStatus.NEW:
        return "submitted"
    if transfer.kind == TransferKind.DEPOSIT:
        return "waiting_for_approval"
    return "processing"


def momo_request_of(transfer: Transfer) -> MomoRequest | None:
    found = flows.momo_request_for_transfer(transfer.id)
    return found if isinstance(found, MomoRequest) else None


def momo_transfer_out(transfer: Transfer, req: MomoRequest | None) -> dict[str, Any]:
    phase = momo_phase(transfer, req)
    return {
        "id": transfer.id,
        "kind": transfer.kind,
        "status": transfer.status,
        "phase": phase,
        "terminal": phase in ("succeeded", "failed"),
        "currency": transfer.currency,
        "amount": transfer.amount,
        "fee": transfer.fee,
        "failure_code": transfer.failure_code,
        "failure_message": transfer.failure_message,
        "momo_status": req.momo_status if req else "",
        "momo_reason_code": req.reason_code if req else "",
        "momo_reason_message": req.reason_message if req else "",
        "momo_transaction_id": req.financial_transaction_id if req else "",
        "created_at": transfer.created_at,
        "updated_at": max(transfer.updated_at, req.updated_at) if req else transfer.updated_at,
    }


def momo_transfer_get(*, client_id: int, transfer_id: uuid.UUID) -> Transfer:
    """The customer's MoMo transfer (a transfer of another kind is "not found" here)."""
    transfer = transfer_get(client_id=client_id, transfer_id=transfer_id)
    if transfer.kind not in MOMO_KINDS or transfer.client_id != client_id:
        raise NotFound("transfer not found", details={"transfer_id": str(transfer_id)})
    return transfer


def amount_text(amount: int, currency: str) -> str:
    try:
        return Money.of(amount, currency).format()
    except MoneyError:
        return f"{currency} {amount}"


# --- handlers ---------------------------------------------------------------------------------


def _uid(request: HttpRequest) -> int:
    principal: ApiPrincipal = request.auth  # type: ignore[attr-defined]
    return principal.user_id


StepUpChallenge = Annotated[str | None, Header(alias="X-Step-Up-Challenge", max_length=1024)]
StepUpCode = Annotated[str | None, Header(alias="X-Step-Up-Code", max_length=12)]


def _proof(challenge: str | None, code: str | None) -> StepUpProof | None:
    return StepUpProof(challenge_id=challenge, code=code) if challenge and code else None


def _interactive(request: HttpRequest) -> bool:
    """A mobile session (not an operator-issued ``lw_`` API token): step-up applies."""
    principal: ApiPrincipal = request.auth  # type: ignore[attr-defined]
    return principal.kind == "session"


def _created(request: HttpRequest, transfer: Transfer, now: datetime) -> HttpResponse:
    """201 for a new transfer; 200 + ``Idempotent-Replayed`` when the key's first transfer
    came back (it was created before this request's clock reading). A payment refused
    before MoMo saw it (funds, a limit, the name check) is recorded as a failed transfer
    and answered, like ``POST /transfers``, as an error whose details carry its id."""
    replayed = transfer.created_at != now
    req = momo_request_of(transfer)
    response: HttpResponse
    if transfer.status == TransferStatus.FAILED and req is None:
        response = error_response(
            STATUS_BY_CODE.get(transfer.failure_code, 422),
            transfer.failure_code,
            transfer.failure_message,
            {"transfer_id": str(transfer.id)},
        )
    else:
        response = JsonResponse(
            MomoTransferOut.model_validate(momo_transfer_out(transfer, req)).model_dump(),
            encoder=NinjaJSONEncoder,
            status=200 if replayed else 201,
            content_type="application/json; charset=utf-8",
        )
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


_REPLAY_DOC = (
    "Requires an `Idempotency-Key` header: a retry with the same key and body returns the "
    "first transfer (200, header `Idempotent-Replayed: true`); the same key with another "
    "body is a 409 `idempotency_key_reused`. A 201 means recorded and queued, not paid: read "
    "`GET /momo/transfers/{id}` every few seconds until `terminal` is true. A refusal "
    "before MoMo is asked (`insufficient_funds`, `limit_exceeded`, `account_not_active`, "
    "`beneficiary_name_mismatch`) is recorded and answered 422 with `details.transfer_id`."
)


def _step_up_doc(what: str) -> str:
    return (
        f" With a mobile access token, {what} needs an SMS code: 403 `step_up_required` "
        "(details.challenge_id), then the same request again with `X-Step-Up-Challenge` "
        "and `X-Step-Up-Code` (as for `POST /transfers`)."
    )


@router.post(
    "/deposits",
    response={201: MomoTransferOut, 200: MomoTransferOut, **ERRORS},
    summary="Deposit into your wallet from MTN MoMo (request-to-pay to your phone)",
    description=(
        "MoMo asks the payer's phone to approve the payment (PIN prompt); the wallet is "
        "credited once MoMo confirms it. " + _REPLAY_DOC
    ),
    **api_action("self.transfer"),
)
def create_deposit(
    request: HttpRequest, payload: MomoDepositIn, idempotency_key: IdempotencyKey
) -> Any:
    api_requires(request, "self.transfer")
    now = timezone.now()
    transfer = flows.deposit_start(
        customer_id=_uid(request),
        currency=payload.currency,
        amount_minor=payload.amount,
        msisdn=payload.msisdn or "",
        idempotency_key=idempotency_key,
        now=now,
        message=payload.message,
    )
    return _created(request, transfer, now)


@router.post(
    "/withdrawals",
    response={201: MomoTransferOut, 200: MomoTransferOut, **ERRORS, 429: ErrorOut},
    summary="Withdraw from your wallet to your own MTN MoMo number",
    description=(
        "The amount and fee are held at once, paid out by MoMo to your verified phone "
        "number, and taken from the wallet when MoMo confirms (released if it fails). "
        + _REPLAY_DOC
        + _step_up_doc("a large amount")
    ),
    **api_action("self.transfer"),
)
def create_withdrawal(
    request: HttpRequest,
    payload: MomoWithdrawalIn,
    idempotency_key: IdempotencyKey,
    step_up_challenge: StepUpChallenge = None,
    step_up_code: StepUpCode = None,
) -> Any:
    api_requires(request, "self.transfer")
    now = timezone.now()
    transfer = momo_payout_with_step_up(
        client_id=_uid(request),
        idempotency_key=idempotency_key,
        kind="withdrawal",
        currency=payload.currency,
        amount_minor=payload.amount,
        msisdn=None,
        interactive=_interactive(request),
        proof=_proof(step_up_challenge, step_up_code),
        now=now,
        check=lambda: flows.outbound_check(
            customer_id=_uid(request),
            kind="withdrawal",
            currency=payload.currency,
            amount_minor=payload.amount,
            msisdn=None,
            now=now,
        ),
        start=lambda: flows.withdrawal_start(
            customer_id=_uid(request),
            currency=payload.currency,
            amount_minor=payload.amount,
            idempotency_key=idempotency_key,
            now=now,
            note=payload.note,
        ),
    )
    return _created(request, transfer, now)


@router.post(
    "/payouts",
    response={201: MomoTransferOut, 200: MomoTransferOut, **ERRORS, 429: ErrorOut},
    summary="Send money from your wallet to any MTN MoMo number",
    description=(
        "Like a withdrawal, to another person's MoMo number; `beneficiary_name` (optional) "
        "is checked against the name MoMo has for the number. "
        + _REPLAY_DOC
        + _step_up_doc("a large amount or a first payout to a number")
    ),
    **api_action("self.transfer"),
)
def create_payout(
    request: HttpRequest,
    payload: MomoPayoutIn,
    idempotency_key: IdempotencyKey,
    step_up_challenge: StepUpChallenge = None,
    step_up_code: StepUpCode = None,
) -> Any:
    api_requires(request, "self.transfer")
    now = timezone.now()
    transfer = momo_payout_with_step_up(
        client_id=_uid(request),
        idempotency_key=idempotency_key,
        kind="payout",
        currency=payload.currency,
        amount_minor=payload.amount,
        msisdn=flows.msisdn_normalise(payload.msisdn),
        interactive=_interactive(request),
        proof=_proof(step_up_challenge, step_up_code),
        now=now,
        check=lambda: flows.outbound_check(
            customer_id=_uid(request),
            kind="payout",
            currency=payload.currency,
            amount_minor=payload.amount,
            msisdn=payload.msisdn,
            now=now,
        ),
        start=lambda: flows.payout_start(
            customer_id=_uid(request),
            currency=payload.currency,
            amount_minor=payload.amount,
            msisdn=payload.msisdn,
            idempotency_key=idempotency_key,
            now=now,
            note=payload.note,
            beneficiary_name=payload.beneficiary_name,
        ),
    )
    return _created(request, transfer, now)


@router.get(
    "/transfers/{transfer_id}",
    response={200: MomoTransferOut, **ERRORS},
    summary="A MoMo transfer's status (poll until `terminal`)",
    **api_action("self.transfer"),
)
def get_momo_transfer(request: HttpRequest, transfer_id: uuid.UUID) -> Any:
    api_requires(request, "self.transfer")
    transfer = momo_transfer_get(client_id=_uid(request), transfer_id=transfer_id)
    return momo_transfer_out(transfer, momo_request_of(transfer))
