"""Remittances: create against a quote, confirm (prefund reserved, payout handed to MoMo),
cancel, read, list, expire. docs/partner-api.md.

**Create** (``remittance_create``) is idempotent by the partner's ``external_id`` and its
``Idempotency-Key``, both unique per partner in the database, with the request's digest
stored: the same body again returns the remittance (whatever happened to it since: its
quote expired, it completed); another body under either reference is a 409
``idempotency_conflict``; two identical requests racing make one remittance. The quote must
be ACTIVE and not past ``expires_at`` (else ``quote_expired``, the quote marked EXPIRED) and
becomes USED (one remittance per quote, unique). A beneficiary validation, if cited, must
be the partner's, for the same number, not expired, and not say NOT_FOUND, BARRED or a
name NO_MATCH. The number, names and sender are sealed at rest.

**Confirm** (``remittance_confirm``) runs one payment through the payment skeleton
(``momo.flows.partner_payout_start``): the transfer (send amount + fee, in the send
currency), the remittance CONFIRMED, its event, the MoMo request (receive amount, in the
receive currency) and its submit job, the audit record, then, as the transaction's last
statements, the hold on the partner's prefund and the daily and outstanding limits (read
under the prefund's lock). A refusal (insufficient prefund, a limit) leaves the remittance
CREATED with nothing held; it is recorded as a failed transfer under the confirm's
Idempotency-Key, so a retry with that key gets the same answer and a new key tries again
(after a top-up). Confirming a remittance already confirmed returns it as it is.

**Cancel** (``remittance_cancel``): a CREATED remittance, or a CONFIRMED one whose payout
has not been sent to MoMo yet (the submit job takes the MoMo request's lock before its first
send and moves the remittance to SUBMITTED in that transaction, so the two cannot both
win): the hold is voided, the daily usage given back. From SUBMITTED on MoMo may pay it:
``remittance_not_cancellable``.

**Expiry** (``remittances_expire``, periodic): ACTIVE quotes past expiry EXPIRED; CREATED
remittances whose quote expired EXPIRED (a confirm at or after ``expires_at`` does the same).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import IntegrityError, transaction

from lightway.application.aml.sanctions import beneficiary_screen
from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import (
    Conflict,
    NotFound,
    PaymentRefused,
    RequestRefused,
    ValidationFailed,
)
from lightway.application.fx.pricing import RATE_PLACES
from lightway.application.momo import flows
from lightway.application.momo.apply import request_fail
from lightway.application.partners.prefund import partner_prefund_account
from lightway.application.payments.skeleton import (
    Recorded,
    idempotency_key_check,
    payment_replay,
    request_digest,
)
from lightway.application.remittances.beneficiaries import (
    MSISDN_CONTEXT,
    NAME_CONTEXT,
    clean_name,
    names_compare,
)
from lightway.application.remittances.limits import (
    UsageCheck,
    currency_enabled,
    per_transaction_check,
    usage_add_check,
    usage_day,
)
from lightway.application.remittances.outcome import CANCELLED
from lightway.application.remittances.partners import partner_active, partner_client_id
from lightway.application.remittances.pricing import remittance_fee
from lightway.application.remittances.quotes import (
    IdempotencyConflictPartner,
    external_id_check,
    quotes_expire,
)
from lightway.application.remittances.states import (
    remittance_created_event,
    remittance_transition,
)
from lightway.data.momo.models import RequestStatus
from lightway.data.momo.selectors import momo_request_of_transfer
from lightway.data.momo.services import momo_request_lock
from lightway.data.money import Money, currency
from lightway.data.remittances.models import (
    AccountStatus,
    BeneficiaryValidation,
    NameMatch,
    Quote,
    QuoteState,
    Remittance,
    RemittanceState,
)
from lightway.data.remittances.selectors import (
    remittance_by_external_id,
    remittance_by_key,
    remittance_of_partner,
    remittances_page,
    validation_of_partner,
)
from lightway.data.wallets.models import Transfer, TransferStatus
from lightway.security.crypto import decrypt, decrypt_optional, encrypt, pii_token
from lightway.security.masking import mask_name, mask_phone

SENDER_CONTEXT = "remittances.sender"
SENDER_FIELDS = ("name", "country", "id_type", "id_number", "date_of_birth", "address")


def _constant(context: str) -> Callable[[object], str]:
    return lambda _row: context


for _column, _context in (
    ("beneficiary_msisdn_ct", MSISDN_CONTEXT),
    ("beneficiary_name_ct", NAME_CONTEXT),
    ("sender_ct", SENDER_CONTEXT),
):
    encrypted_column_register(
        EncryptedColumn("remittances.Remittance", _column, _constant(_context))
    )


class QuoteExpired(RequestRefused):
    """The quote's lock ran out (``expires_at <= now``): ask for a new quote."""

    def __init__(self, quote: Quote) -> None:
        super().__init__(
            "quote_expired",
            "the quote has expired: ask for a new quote",
            details={
                "field": "quote_id",
                "quote_id": str(quote.id),
                "expired_at": quote.expires_at.isoformat(),
            },
        )


class QuoteUsed(Conflict):
    code = "quote_used"


class NotConfirmable(Conflict):
    code = "remittance_not_confirmable"


class NotCancellable(Conflict):
    code = "remittance_not_cancellable"


class _LostRace(Exception):
    """Inside the confirm's transaction: the remittance is no longer CREATED (another
    confirm or a cancel won); everything is rolled back and the caller answers with the
    remittance as it is."""


@dataclass(frozen=True)
class RemittanceRequest:
    external_id: str
    quote_id: uuid.UUID
    beneficiary_msisdn: str
    beneficiary_name: str
    sender: dict[str, str] = field(default_factory=dict)
    beneficiary_validation_id: uuid.UUID | None = None
    purpose: str = ""
    note: str = ""


@dataclass(frozen=True)
class RemittanceView:
    """A remittance as the partner sees it: the beneficiary masked, no sender data."""

    remittance: Remittance
    rate: str
    masked_msisdn: str
    masked_name: str


# --- create -------------------------------------------------------------------------------


def _digest(request: RemittanceRequest, number: str, name: str) -> str:
    sender = json.dumps(request.sender, sort_keys=True, separators=(",", ":"))
    return request_digest(
        external_id=request.external_id,
        quote_id=str(request.quote_id),
        beneficiary=pii_token("msisdn", number),
        name=pii_token("name", name),
        sender=hashlib.sha256(sender.encode()).hexdigest(),
        validation=str(request.beneficiary_validation_id or ""),
        purpose=request.purpose,
        note=request.note,
    )


def _replay(partner_id: int, key: str, external_id: str, digest: str) -> Remittance | None:
    for found, what in (
        (remittance_by_key(partner_id=partner_id, idempotency_key=key), "Idempotency-Key"),
        (remittance_by_external_id(partner_id=partner_id, external_id=external_id), "external_id"),
    ):
        if found is None:
            continue
        if found.request_hash != digest:
            raise IdempotencyConflictPartner(
                f"this {what} was already used for a remittance with another body",
                details={"remittance_id": str(found.id)},
            )
        return found
    return None


def _sender(raw: dict[str, str]) -> dict[str, str]:
    unknown = set(raw) - set(SENDER_FIELDS)
    if unknown:
        raise ValidationFailed(
            f"unknown sender field {sorted(unknown)[0]}", details={"field": "sender"}
        )
    if not str(raw.get("name") or "").strip():
        raise ValidationFailed("sender.name is required", details={"field": "sender.name"})
    if not str(raw.get("country") or "").strip():
        raise ValidationFailed("sender.country is required", details={"field": "sender.country"})
    return {k: " ".join(str(v).split()) for k, v in raw.items() if v is not None}


def _validation_check(
    validation: BeneficiaryValidation | None, number: str, name: str, now: datetime
) -> None:
    if validation is None:
        return
    field_ = "beneficiary_validation_id"
    if validation.msisdn_token != pii_token("msisdn", number):
        raise RequestRefused(
            "beneficiary_validation_mismatch",
            "the beneficiary validation was made for another number",
            details={"field": field_},
        )
    expected = decrypt_optional(validation.expected_name_ct, context=NAME_CONTEXT)
    if expected is not None and names_compare(name, expected) != NameMatch.MATCH:
        raise RequestRefused(
            "beneficiary_validation_mismatch",
            "the beneficiary validation was made for another name",
            details={"field": field_},
        )
    if validation.expires_at <= now:
        raise RequestRefused(
            "beneficiary_validation_expired",
            "the beneficiary validation has expired: validate the beneficiary again",
            details={"field": field_},
        )
    if validation.account_status == AccountStatus.NOT_FOUND:
        raise RequestRefused(
            "beneficiary_not_found",
            "MoMo has no account for this number",
            details={"field": "beneficiary.msisdn"},
        )
    if validation.account_status == AccountStatus.BARRED:
        raise RequestRefused(
            "beneficiary_barred",
            "the MoMo account of this number cannot receive money",
            details={"field": "beneficiary.msisdn"},
        )
    if validation.name_match == NameMatch.NO_MATCH:
        raise RequestRefused(
            "beneficiary_name_mismatch",
            "the name does not match the name registered with MoMo for this number",
            details={"field": "beneficiary.name"},
        )


def _quote_expire(quote_id: uuid.UUID, now: datetime) -> None:
    with transaction.atomic():
        Quote.objects.filter(pk=quote_id, state=QuoteState.ACTIVE).update(
            state=QuoteState.EXPIRED, updated_at=now
        )


def remittance_create(
    *, partner_id: int, idempotency_key: str, request: RemittanceRequest, now: datetime
) -> tuple[Remittance, bool]:
    """(the remittance, replayed); see the module docstring."""
    idempotency_key_check(idempotency_key)
    external_id = external_id_check(request.external_id)
    number = flows.msisdn_normalise(request.beneficiary_msisdn, field_name="beneficiary.msisdn")
    name = clean_name(request.beneficiary_name, field="beneficiary.name")
    if name is None:
        raise ValidationFailed(
            "beneficiary.name is required", details={"field": "beneficiary.name"}
        )
    digest = _digest(request, number, name)
    replay = _replay(partner_id, idempotency_key, external_id, digest)
    if replay is not None:
        return replay, True
    partner = partner_active(partner_id=partner_id)
    # The beneficiary's name against the sanctions list (docs/aml.md): a hit is recorded
    # (an alert and a case for compliance) and the remittance refused, without saying why.
    if beneficiary_screen(
        name=name, subject_ref=f"remittance:{partner_id}:{external_id}"[:64], now=now
    ):
        raise RequestRefused(
            "beneficiary_refused",
            "this beneficiary cannot be paid through this service",
            details={"field": "beneficiary.name"},
        )
    sender = _sender(request.sender)
    validation = None
    if request.beneficiary_validation_id is not None:
        validation = validation_of_partner(
            partner_id=partner_id, validation_id=request.beneficiary_validation_id
        )
        if validation is None:
            raise NotFound(
                "beneficiary validation not found", details={"field": "beneficiary_validation_id"}
            )
    _validation_check(validation, number, name, now)
    expired: Quote | None = None
    try:
        with transaction.atomic():
            quote = (
                Quote.objects.select_for_update()
                .filter(partner_id=partner_id, pk=request.quote_id)
                .first()
            )
            if quote is None:
                raise NotFound("quote not found", details={"field": "quote_id"})
            if quote.state == QuoteState.USED:
                raise QuoteUsed(
                    "this quote was already used by another remittance",
                    details={"field": "quote_id"},
                )
            if quote.state == QuoteState.EXPIRED or quote.expires_at <= now:
                expired = quote
            else:
                Quote.objects.filter(pk=quote.pk).update(state=QuoteState.USED, updated_at=now)
                remittance = Remittance.objects.create(
                    id=uuid.uuid4(),
                    partner_id=partner.pk,
                    external_id=external_id,
                    idempotency_key=idempotency_key,
                    request_hash=digest,
                    quote_id=quote.pk,
                    send_currency=quote.send_currency,
                    send_amount=quote.send_amount,
                    fee=quote.fee,
                    receive_currency=quote.receive_currency,
                    receive_amount=quote.receive_amount,
                    spread=quote.spread,
                    beneficiary_msisdn_ct=encrypt(number, context=MSISDN_CONTEXT),
                    beneficiary_msisdn_token=pii_token("msisdn", number),
                    beneficiary_name_ct=encrypt(name, context=NAME_CONTEXT),
                    beneficiary_validation_id=validation.pk if validation else None,
                    sender_ct=encrypt(json.dumps(sender, sort_keys=True), context=SENDER_CONTEXT),
                    purpose=request.purpose[:64],
                    note=request.note[:140],
                    state=RemittanceState.CREATED,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                remittance_created_event(remittance, now=now)
    except IntegrityError:
        # The same key or external_id committed first: replay it (or 409).
        replay = _replay(partner_id, idempotency_key, external_id, digest)
        if replay is None:
            raise
        return replay, True
    if expired is not None:
        _quote_expire(expired.pk, now)
        raise QuoteExpired(expired)
    return remittance, False


# --- confirm ------------------------------------------------------------------------------------


def _confirm_key(remittance: Remittance, key: str) -> str:
    """The transfer's idempotency key: one payment attempt per (remittance, confirm key)."""
    return f"remittance-confirm:{remittance.id}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _refusal_of(
    transfer: Transfer, remittance: Remittance, cause: PaymentRefused | None = None
) -> PaymentRefused:
    details = dict(cause.details) if cause is not None else {}
    details.update(remittance_id=str(remittance.id), transfer_id=str(transfer.id))
    return PaymentRefused(transfer.failure_code, transfer.failure_message, details=details)


def _expire_created(remittance_id: uuid.UUID, now: datetime) -> None:
    with transaction.atomic():
        locked = Remittance.objects.select_for_update().filter(pk=remittance_id).first()
        if locked is not None and locked.state == RemittanceState.CREATED:
            remittance_transition(
                locked, state=RemittanceState.EXPIRED, now=now, reason_code="quote_expired"
            )


def remittance_confirm(
    *, partner_id: int, remittance_id: uuid.UUID, idempotency_key: str, now: datetime
) -> tuple[Remittance, bool]:
    """(the remittance, replayed); see the module docstring."""
    idempotency_key_check(idempotency_key)
    remittance = _remittance(partner_id, remittance_id)
    if remittance.transfer_id is not None:
        return remittance, True  # confirmed already: as it is now
    if remittance.state != RemittanceState.CREATED:
        raise NotConfirmable(
            f"a {remittance.state} remittance cannot be confirmed",
            details={"state": remittance.state, "remittance_id": str(remittance.id)},
        )
    partner = partner_active(partner_id=partner_id)
    client_id = partner_client_id(partner=partner, now=now)
    key = _confirm_key(remittance, idempotency_key)
    digest = request_digest(remittance_id=str(remittance.id))
    replay = payment_replay(client_id=client_id, key=key, digest=digest)
    if replay is not None:
        if replay.status == TransferStatus.FAILED:
            raise _refusal_of(replay, remittance)
        return _remittance(partner_id, remittance_id), True
    quote = Quote.objects.get(pk=remittance.quote_id)
    if quote.expires_at <= now:
        _expire_created(remittance.id, now)
        raise QuoteExpired(quote)
    send = Money(remittance.send_amount, currency(remittance.send_currency))
    limit = currency_enabled(
        partner_id=partner.pk, currency_code=send.currency.code, field="send_currency"
    )
    per_transaction_check(limit, send)
    fee = remittance_fee(partner_code=partner.code, send=send, now=now)
    if fee.fee.amount != remittance.fee:
        raise RequestRefused(
            "fee_changed",
            "the fee schedule changed since the quote was made: ask for a new quote",
            details={"quote_id": str(quote.id), "fee": fee.fee.amount},
        )
    prefund = partner_prefund_account(
        partner_code=partner.code, currency_code=send.currency.code, now=now
    )
    usage = UsageCheck(
        partner_id=partner.pk,
        limit=limit,
        send=send,
        day=usage_day(now),
        prefund_account_id=prefund.pk,
    )

    def record(transfer: Transfer, recorded: Recorded, at: datetime) -> dict[str, object]:
        locked = Remittance.objects.select_for_update().get(pk=remittance.pk)
        if locked.state != RemittanceState.CREATED or locked.transfer_id is not None:
            raise _LostRace
        remittance_transition(
            locked,
            state=RemittanceState.CONFIRMED,
            now=at,
            changes={"transfer_id": transfer.id},
        )
        return {"remittance": str(remittance.id)}

    refused: list[PaymentRefused] = []

    def finish(_transfer: Transfer, _recorded: Recorded, _at: datetime) -> None:
        try:
            usage_add_check(usage)
        except PaymentRefused as exc:
            refused.append(exc)  # its details (which limit) go back to the partner
            raise

    try:
        outcome = flows.partner_payout_start(
            partner_user_id=client_id,
            partner_code=partner.code,
            idempotency_key=key,
            digest=digest,
            send=send,
            fee=fee,
            payout=Money(remittance.receive_amount, currency(remittance.receive_currency)),
            msisdn=decrypt(bytes(remittance.beneficiary_msisdn_ct), context=MSISDN_CONTEXT),
            external_id=remittance.external_id,
            note=remittance.note,
            now=now,
            record=record,
            finish=finish,
        )
    except _LostRace:
        return _remittance(partner_id, remittance_id), True
    if outcome.transfer.status == TransferStatus.FAILED:
        current = _remittance(partner_id, remittance_id)
        if current.transfer_id is not None:
            return current, True  # another confirm won meanwhile
        raise _refusal_of(outcome.transfer, remittance, refused[0] if refused else None)
    return _remittance(partner_id, remittance_id), outcome.replayed


# --- cancel -----------------------------------------------------------------------------------


def _not_cancellable(remittance: Remittance) -> Conflict:
    return NotCancellable(
        f"a {remittance.state} remittance cannot be cancelled: its payout may be at MoMo",
        details={"state": remittance.state, "remittance_id": str(remittance.id)},
    )


def remittance_cancel(*, partner_id: int, remittance_id: uuid.UUID, now: datetime) -> Remittance:
    """Cancel before the payout is sent (see the module docstring); a cancelled remittance
    is returned as it is."""
    for _ in range(3):
        remittance = _remittance(partner_id, remittance_id)
        if remittance.state == RemittanceState.CANCELLED:
            return remittance
        if remittance.state not in (RemittanceState.CREATED, RemittanceState.CONFIRMED):
            raise _not_cancellable(remittance)
        if remittance.transfer_id is None:
            with transaction.atomic():
                locked = Remittance.objects.select_for_update().get(pk=remittance.pk)
                if locked.transfer_id is None and locked.state == RemittanceState.CREATED:
                    remittance_transition(
                        locked, state=RemittanceState.CANCELLED, now=now, reason_code="cancelled"
                    )
                    return locked
            continue  # confirmed meanwhile: cancel the confirmed one
        request = momo_request_of_transfer(transfer_id=remittance.transfer_id)
        if request is None:
            raise _not_cancellable(remittance)
        with transaction.atomic():
            # Lock order as the submit job: the MoMo request, then the remittance.
            locked_request = momo_request_lock(request_id=request.pk)
            locked = Remittance.objects.select_for_update().get(pk=remittance.pk)
            if locked.state == RemittanceState.CANCELLED:
                return locked
            if (
                locked.state != RemittanceState.CONFIRMED
                or locked_request is None
                or locked_request.status != RequestStatus.NEW
                or locked_request.attempts > 0
            ):
                raise _not_cancellable(locked)
            request_fail(
                locked_request,
                code=CANCELLED,
                message="cancelled by the partner before it was sent",
                momo_status="",
                now=now,
            )
        return _remittance(partner_id, remittance_id)
    raise Conflict("the remittance kept changing; try again")


# --- reads --------------------------------------------------------------------------------------


def _remittance(partner_id: int, remittance_id: uuid.UUID) -> Remittance:
    found = remittance_of_partner(partner_id=partner_id, remittance_id=remittance_id)
    if found is None:
        raise NotFound("remittance not found", details={"remittance_id": str(remittance_id)})
    return found


def remittance_view(remittance: Remittance) -> RemittanceView:
    rate = Quote.objects.values_list("rate", flat=True).get(pk=remittance.quote_id)
    number = decrypt(bytes(remittance.beneficiary_msisdn_ct), context=MSISDN_CONTEXT)
    name = decrypt(bytes(remittance.beneficiary_name_ct), context=NAME_CONTEXT)
    shown = format(rate.quantize(RATE_PLACES), "f")
    return RemittanceView(remittance, shown, mask_phone("+" + number), mask_name(name))


def remittance_get(*, partner_id: int, remittance_id: uuid.UUID) -> RemittanceView:
    return remittance_view(_remittance(partner_id, remittance_id))


def remittance_get_by_external_id(*, partner_id: int, external_id: str) -> RemittanceView:
    found = remittance_by_external_id(partner_id=partner_id, external_id=external_id)
    if found is None:
        raise NotFound("remittance not found", details={"external_id": external_id})
    return remittance_view(found)


def cursor_encode(remittance: Remittance) -> str:
    micros = int(remittance.updated_at.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"{micros}.{remittance.id.hex}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, hex_id = raw.split(".")
        at = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
        return at, uuid.UUID(hex=hex_id)
    except (ValueError, UnicodeDecodeError):
        raise RequestRefused(
            "cursor_invalid",
            "cursor is not one this API gave out: pass next_cursor as it came",
            details={"field": "query.cursor"},
        ) from None


def remittances_list(
    *,
    partner_id: int,
    state: str | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[RemittanceView], str | None]:
    """A page of the partner's remittances, oldest change first, and the next cursor (None
    on the last page). Keyset on (updated_at, id): a remittance that changes again later
    shows up again further on, so following the cursor sees every change."""
    if state is not None and state not in RemittanceState.values:
        raise ValidationFailed("unknown state", details={"field": "query.state"})
    after = cursor_decode(cursor) if cursor else None
    rows = remittances_page(
        partner_id=partner_id, state=state, updated_since=updated_since, after=after, limit=limit
    )
    next_cursor = cursor_encode(rows[-1]) if len(rows) == limit and rows else None
    return [remittance_view(r) for r in rows], next_cursor


# --- expiry -------------------------------------------------------------------------------------


def remittances_expire(*, now: datetime, batch: int = 200) -> int:
    """Quotes past expiry EXPIRED; CREATED remittances whose quote expired EXPIRED, each
    with its event (periodic job). Returns how many remittances expired."""
    quotes_expire(now=now)
    expired = 0
    while True:
        with transaction.atomic():
            rows = list(
                Remittance.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state=RemittanceState.CREATED, quote__expires_at__lte=now)
                .order_by("created_at")[:batch]
            )
            for remittance in rows:
                remittance_transition(
                    remittance, state=RemittanceState.EXPIRED, now=now, reason_code="quote_expired"
                )
        expired += len(rows)
        if len(rows) < batch:
            return expired
