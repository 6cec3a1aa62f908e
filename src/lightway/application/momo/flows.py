"""MoMo money flows: deposit (request-to-pay), withdrawal and payout (disbursement
transfer) and the remittance payout (remittance transfer). docs/momo.md "Flows".

A start use case validates the request, then in ONE database transaction records the
transfer (status ``submitted``), reserves the money for an outbound payment (a ledger hold
on the customer's wallet for amount + fee, or on the partner's prefund account for the
amount), checks the KYC limits, writes the :class:`MomoRequest` with a fresh
``X-Reference-Id`` and queues ``momo_submit``; MoMo is called only after that commit, by the
job. Nothing moves in the ledger until MoMo reports the outcome (``apply.momo_apply``).

Idempotency as for P2P: the same (client, Idempotency-Key) with the same request returns
the first transfer; with a different request it is a 409 ``idempotency_key_reused``.
Refusals (insufficient funds, a limit, an inactive wallet, a beneficiary name that does not
match) are recorded as a failed transfer, so a retry gets the same answer; request errors
(bad amount, number, currency, no wallet) raise without recording anything.

This module is the contract other packages call; the steps after the start live in
``status`` (submit, poll), ``apply`` (the money), ``callbacks`` and ``sweep``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import (
    DomainError,
    NotFound,
    PaymentRefused,
    RequestRefused,
    ValidationFailed,
)
from lightway.application.identity.profiles import profile_pii
from lightway.application.momo.apply import momo_apply
from lightway.application.momo.callbacks import callback_process, callback_receive
from lightway.application.momo.common import (
    PARTY_CONTEXT,
    deadline_for,
    fee_for,
    logger,
    momo_text,
    party_of,
    setting,
    submit_lease,
)
from lightway.application.momo.gateway import momo_configured, momo_gateway, momo_target
from lightway.application.momo.status import momo_poll, momo_submit
from lightway.application.momo.sweep import SUBMIT_TASK, momo_sweep, request_job_lock

# A partner's prefund account (one per partner and currency): application.partners.prefund.
from lightway.application.partners.prefund import partner_prefund_account
from lightway.application.payments.skeleton import (
    HoldFunds,
    PaymentOutcome,
    PaymentPlan,
    Recorded,
    ReserveInbound,
    idempotency_key_check,
    payment_record,
    payment_replay,
)
from lightway.application.text import text_printable
from lightway.application.transactions.commission import FeeQuote
from lightway.application.transactions.wallets import wallet_open
from lightway.data.identity.models import PartnerStatus, Profile, Realm
from lightway.data.ledger.models import AccountStatus
from lightway.data.momo.models import MomoRequest
from lightway.data.momo.selectors import momo_request_of_transfer
from lightway.data.momo.services import momo_request_insert
from lightway.data.money import Money, MoneyError, currency
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus, Wallet
from lightway.infrastructure.jobs import job_enqueue
from lightway.integration.momo.port import (
    MomoConfigError,
    MomoError,
    MomoTarget,
    Operation,
    Party,
    Product,
)
from lightway.security.crypto import encrypt, pii_token

__all__ = [
    "MomoUnavailable",
    "callback_process",
    "callback_receive",
    "customer_msisdn",
    "deposit_start",
    "momo_apply",
    "momo_poll",
    "momo_request_for_transfer",
    "momo_request_party",
    "momo_submit",
    "momo_sweep",
    "msisdn_normalise",
    "partner_payout_start",
    "payout_start",
    "remittance_payout_start",
    "withdrawal_start",
]

MAX_KEY_LENGTH = 200
EXTERNAL_ID_MAX = 64
NAME_MAX = 120
MSISDN_RE = re.compile(r"^[0-9]{8,15}$")
_EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9._:/\-]{1,64}$")

# Key rotation (``lightway keys rotate``) re-seals the party numbers too.
encrypted_column_register(
    EncryptedColumn("momo.MomoRequest", "party_ct", lambda row: PARTY_CONTEXT)
)


class MomoUnavailable(DomainError):
    """MoMo is not configured on this platform (MOMO_BASE_URL unset): nothing recorded."""

    code = "momo_unavailable"


# --- inputs ----------------------------------------------------------------------------------


def msisdn_normalise(raw: str, *, field_name: str = "msisdn") -> str:
    """A MoMo MSISDN: country code and number, digits only, 8 to 15 of them; a leading
    "+" and spaces are dropped, nothing else is rewritten (§14.12)."""
    text = re.sub(r"[\s]", "", str(raw or ""))
    if text.startswith("+"):
        text = text[1:]
    if not MSISDN_RE.match(text):
        raise ValidationFailed(
            "the MoMo number must be 8 to 15 digits with the country code (an optional +)",
            details={"field": field_name},
        )
    return text


def _money(code: str, amount: int) -> Money:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationFailed(
            "amount must be a whole number of minor units", details={"field": "amount"}
        )
    try:
        money = Money(amount, currency(code))
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "currency"}) from None
    if amount <= 0:
        raise ValidationFailed("amount must be greater than zero", details={"field": "amount"})
    return money


def _target(code: str) -> MomoTarget:
    if not momo_configured():
        raise MomoUnavailable("MoMo payments are not available on this platform")
    try:
        return momo_target(code)
    except MomoConfigError:
        raise RequestRefused(
            "currency_unavailable",
            f"MoMo payments in {code} are not available",
            details={"field": "currency"},
        ) from None


def _customer_profile(customer_id: int) -> Profile:
    profile = Profile.objects.filter(user_id=customer_id, realm=Realm.CUSTOMER).first()
    if profile is None:
        raise NotFound("customer not found", details={"customer_id": customer_id})
    return profile


def customer_msisdn(*, customer_id: int) -> str:
    """The customer's own verified phone number (E.164, with "+"), where withdrawals go."""
    profile = _customer_profile(customer_id)
    phone = profile_pii(profile).phone if profile.phone_ct is not None else None
    if not phone or profile.phone_verified_at is None:
        raise RequestRefused(
            "phone_unverified",
            "your phone number is not verified: verify it before using MoMo",
            details={"field": "phone"},
        )
    return phone


def _own_number(customer_id: int) -> str:
    """The customer's own verified number, normalised: where a withdrawal goes."""
    return msisdn_normalise(customer_msisdn(customer_id=customer_id), field_name="phone")


def _wallet(customer_id: int, code: str, *, open_missing: bool, now: datetime) -> Wallet:
    wallet = (
        Wallet.objects.select_related("account").filter(owner_id=customer_id, currency=code).first()
    )
    if wallet is None and open_missing:
        _customer_profile(customer_id)
        wallet = wallet_open(
            owner_id=customer_id, currency_code=code, now=now, actor=f"user:{customer_id}"
        )
    if wallet is None:
        raise NotFound(f"you have no {code} wallet", details={"field": "currency"})
    return wallet


def _names_match(given: str, registered: str) -> bool:
    """Whether the name the sender typed is the MoMo holder's: case, accents and order
    ignored; every word of the shorter name must appear in the longer one."""

    def words(text: str) -> set[str]:
        plain = unicodedata.normalize("NFKD", text)
        plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
        return {w for w in re.split(r"[^\w]+", plain) if w and not w.isdigit()}

    a, b = words(given), words(registered)
    if not a or not b:
        return False
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return short <= long_


# --- the plan of one start ---------------------------------------------------------------------


@dataclass
class _Plan:
    kind: str
    operation: Operation
    client_id: int
    key: str
    digest: str
    money: Money
    target: MomoTarget
    msisdn: str
    description: str
    payer_message: str
    payee_note: str
    external_id: str = ""  # "" = the transfer id
    fee: FeeQuote | None = None
    wallet: Wallet | None = None  # the customer's wallet (source or destination)
    prefund_partner: str = ""  # remittance: the partner code whose prefund pays
    check_limits: bool = True
    refusal: PaymentRefused | None = None
    audit: dict[str, object] = field(default_factory=dict)
    # What MoMo pays when it is not ``money`` (a cross-currency remittance: ``money`` is
    # what the prefund pays, in its currency; ``payout`` what the beneficiary receives).
    payout: Money | None = None
    # A partner's prefund is hot: hold it with the transaction's last statements.
    hold_last: bool = False
    # The caller's own rows (after the MoMo request) and checks (after the hold).
    record_more: Callable[[Transfer, Recorded, datetime], Mapping[str, object]] | None = None
    finish: Callable[[Transfer, Recorded, datetime], None] | None = None

    @property
    def outbound(self) -> bool:
        return not self.operation.spec.inbound

    @property
    def fee_amount(self) -> int:
        return self.fee.fee.amount if self.fee else 0


def _digest(kind: str, **values: object) -> str:
    body = json.dumps({"kind": kind, **values}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _start(plan: _Plan, now: datetime) -> Transfer:
    """Record the payment through the payment skeleton (the key was looked up already)."""
    return payment_record(
        _payment_plan(plan, now), idempotency_key=plan.key, digest=plan.digest, now=now
    ).transfer


def _payment_plan(plan: _Plan, now: datetime) -> PaymentPlan:
    """The skeleton's plan of a MoMo start: an outbound payment holds amount + fee on the
    paying account (the customer's wallet or the partner's prefund); a deposit reserves its
    credit on the wallet (pending inbound, counted by the maximum balance). Either way the
    transfer is recorded ``submitted`` with its MoMo request and the submit job."""
    movement: HoldFunds | ReserveInbound
    if plan.outbound:
        movement = HoldFunds(
            account_id=_paying_account(plan, now),
            amount=plan.money.amount + plan.fee_amount,
            expires_at=now + timedelta(days=setting("MOMO_HOLD_DAYS")),
            key_prefix="momo-hold",
            last=plan.hold_last,
        )
    else:
        assert plan.wallet is not None
        movement = ReserveInbound(account_id=plan.wallet.account_id)
    wallet_id = plan.wallet.pk if plan.wallet is not None else None
    return PaymentPlan(
        kind=plan.kind,
        client_id=plan.client_id,
        money=plan.money,
        fee=plan.fee or FeeQuote(fee=Money(0, plan.money.currency), schedule_id=None, splits=()),
        commission_kind=plan.kind,
        movement=movement,
        status=TransferStatus.SUBMITTED,
        source_wallet_id=wallet_id if plan.outbound else None,
        destination_wallet_id=None if plan.outbound else wallet_id,
        description=plan.description,
        check_limits=plan.check_limits,
        refusal=plan.refusal,
        audit={"momo_request": None, "reference_id": "", "party": "", **plan.audit},
        record=lambda transfer, recorded, at: _record_all(plan, transfer, recorded, at),
        finish=plan.finish,
    )


def _record_all(
    plan: _Plan, transfer: Transfer, recorded: Recorded, now: datetime
) -> dict[str, object]:
    data = _record_request(plan, transfer, recorded, now)
    if plan.record_more is not None:
        data.update(plan.record_more(transfer, recorded, now))
    return data


def _record_request(
    plan: _Plan, transfer: Transfer, recorded: Recorded, now: datetime
) -> dict[str, object]:
    """The MoMo request (its X-Reference-Id fixed now) and its submit job, in the payment's
    transaction: MoMo is called only after the commit."""
    payout = plan.payout or plan.money
    request = momo_request_insert(
        reference_id=uuid.uuid4(),
        product=plan.operation.product.value,
        operation=plan.operation.value,
        transfer_id=transfer.id,
        hold_id=recorded.hold_id,
        external_id=plan.external_id or str(transfer.id),
        target_environment=plan.target.environment,
        base_url=plan.target.base_url,
        currency=payout.currency.code,
        amount=payout.amount,
        party_id_type="MSISDN",
        party_ct=encrypt(plan.msisdn, context=PARTY_CONTEXT),
        party_token=pii_token("msisdn", plan.msisdn),
        payer_message=plan.payer_message,
        payee_note=plan.payee_note,
        deadline_at=deadline_for(plan.operation, now),
        next_check_at=now + submit_lease(),
        now=now,
    )
    job_enqueue(SUBMIT_TASK, queueing_lock=request_job_lock(request.pk), request_id=request.pk)
    transaction.on_commit(
        lambda: logger.info(
            "momo transfer submitted",
            extra={
                "transfer_id": str(transfer.id),
                "momo_request": request.pk,
                "reference_id": str(request.reference_id),
                "operation": request.operation,
                "party": request.party_token,
            },
        )
    )
    return {
        "momo_request": request.pk,
        "reference_id": str(request.reference_id),
        "party": request.party_token,
    }


def _paying_account(plan: _Plan, now: datetime) -> int:
    if plan.prefund_partner:
        return partner_prefund_account(
            partner_code=plan.prefund_partner, currency_code=plan.money.currency.code, now=now
        ).pk
    assert plan.wallet is not None
    return plan.wallet.account_id


# --- beneficiary name check -----------------------------------------------------------------


def _name_check(
    product: Product, msisdn: str, name: str | None, target: MomoTarget
) -> tuple[str, PaymentRefused | None]:
    """("skipped"|"matched"|"unavailable"|"mismatch", refusal). MoMo not answering (or
    not knowing a name) does not stop the payment; a different name does."""
    wanted = (name or "").strip()
    if not wanted:
        return "skipped", None
    try:
        info = momo_gateway().basic_user_info(product, Party(party_id=msisdn), target=target)
    except (MomoError, ValueError) as exc:
        logger.info(
            "momo beneficiary name check unavailable",
            extra={"party": pii_token("msisdn", msisdn), "error": type(exc).__name__},
        )
        return "unavailable", None
    registered = info.full_name.strip()
    if not registered:
        return "unavailable", None
    if _names_match(wanted, registered):
        return "matched", None
    return "mismatch", PaymentRefused(
        "beneficiary_name_mismatch",
        "the name given does not match the name registered with MoMo for this number",
        details={"field": "beneficiary_name"},
    )


def _clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    text = " ".join(str(name).split())
    if not text_printable(text, max_length=NAME_MAX):
        raise ValidationFailed(
            f"beneficiary_name must be at most {NAME_MAX} printable characters",
            details={"field": "beneficiary_name"},
        )
    return text or None


# --- the use cases ------------------------------------------------------------------------------


def deposit_start(
    *,
    customer_id: int,
    currency: str,
    amount_minor: int,
    msisdn: str,
    idempotency_key: str,
    now: datetime,
    message: str = "",
) -> Transfer:
    """Ask the payer's MoMo wallet (``msisdn``, or the customer's own verified number when
    empty) to pay ``amount_minor`` into the customer's wallet (opened if missing); the wallet
    is credited (minus any deposit fee) when MoMo reports SUCCESSFUL."""
    idempotency_key_check(idempotency_key)
    number = (
        msisdn_normalise(msisdn)
        if str(msisdn or "").strip()
        else msisdn_normalise(customer_msisdn(customer_id=customer_id), field_name="phone")
    )
    digest = _digest(
        TransferKind.DEPOSIT,
        currency=currency,
        amount=amount_minor,
        party=pii_token("msisdn", number),
        message=message,
    )
    replay = payment_replay(client_id=customer_id, key=idempotency_key, digest=digest)
    if replay is not None:
        return replay
    money = _money(currency, amount_minor)
    target = _target(currency)
    wallet = _wallet(customer_id, currency, open_missing=True, now=now)
    _fee_kind, quote = fee_for(TransferKind.DEPOSIT, money, now)
    if quote.fee.amount >= money.amount:
        raise RequestRefused(
            "amount_below_fee",
            f"the amount must be more than the deposit fee of {quote.fee}",
            details={"field": "amount", "fee": quote.fee.amount},
        )
    plan = _Plan(
        kind=TransferKind.DEPOSIT,
        operation=Operation.REQUEST_TO_PAY,
        client_id=customer_id,
        key=idempotency_key,
        digest=digest,
        money=money,
        target=target,
        msisdn=number,
        description=message,
        payer_message=momo_text(message, "LightWay wallet deposit"),
        payee_note=momo_text("", "LightWay deposit"),
        fee=quote,
        wallet=wallet,
    )
    return _start(plan, now)


def withdrawal_start(
    *,
    customer_id: int,
    currency: str,
    amount_minor: int,
    idempotency_key: str,
    now: datetime,
    note: str = "",
) -> Transfer:
    """Pay ``amount_minor`` from the customer's wallet to their own verified MoMo number
    (amount + fee held now, taken when MoMo reports SUCCESSFUL, released if it fails)."""
    idempotency_key_check(idempotency_key)
    digest = _digest(TransferKind.WITHDRAWAL, currency=currency, amount=amount_minor, note=note)
    replay = payment_replay(client_id=customer_id, key=idempotency_key, digest=digest)
    if replay is not None:
        return replay
    money = _money(currency, amount_minor)
    number = _own_number(customer_id)
    return _wallet_to_momo(
        TransferKind.WITHDRAWAL,
        customer_id=customer_id,
        key=idempotency_key,
        digest=digest,
        currency=currency,
        money=money,
        number=number,
        note=note,
        labels=("LightWay withdrawal", "LightWay withdrawal"),
        now=now,
    )


def outbound_check(
    *,
    customer_id: int,
    kind: str,
    currency: str,
    amount_minor: int,
    msisdn: str | None,
    now: datetime,
) -> None:
    """Raise what :func:`withdrawal_start` (``kind`` "withdrawal") or :func:`payout_start`
    ("payout") would refuse before recording anything: the amount and currency, MoMo in that
    currency, a wallet in it, the number (for a withdrawal, the own verified one). Nothing is
    written; a step-up code is asked for only once this passes, so no code is sent for a
    request that cannot go ahead. Funds are not checked (a refusal for funds is recorded)."""
    if kind not in {TransferKind.WITHDRAWAL, TransferKind.PAYOUT}:
        raise ValueError(f"not a MoMo withdrawal or payout: {kind!r}")
    _money(currency, amount_minor)
    _target(currency)
    _wallet(customer_id, currency, open_missing=False, now=now)
    if kind == TransferKind.WITHDRAWAL:
        _own_number(customer_id)
    elif msisdn is not None:
        msisdn_normalise(msisdn)


def _wallet_to_momo(
    kind: str,
    *,
    customer_id: int,
    key: str,
    digest: str,
    currency: str,
    money: Money,
    number: str,
    note: str,
    labels: tuple[str, str],
    now: datetime,
    name: str | None = None,
    check_name: bool = False,
) -> Transfer:
    """A withdrawal or payout once its request is new: from the customer's wallet (which
    must be active) to ``number``, fee quoted now. ``labels`` are the default payer message
    and payee note; with ``check_name`` (payouts), MoMo's registered name for the number
    must match ``name`` and the audit says how that check went."""
    target = _target(currency)
    wallet = _wallet(customer_id, currency, open_missing=False, now=now)
    _fee_kind, quote = fee_for(kind, money, now)
    refusal = _inactive(wallet)
    audit: dict[str, object] = {}
    if check_name:
        check = "skipped"
        if refusal is None:
            check, refusal = _name_check(Product.DISBURSEMENT, number, name, target)
        audit["name_check"] = check
    payer_label, payee_label = labels
    plan = _Plan(
        kind=kind,
        operation=Operation.TRANSFER,
        client_id=customer_id,
        key=key,
        digest=digest,
        money=money,
        target=target,
        msisdn=number,
        description=note,
        payer_message=momo_text("", payer_label),
        payee_note=momo_text(note, payee_label),
        fee=quote,
        wallet=wallet,
        refusal=refusal,
        audit=audit,
    )
    return _start(plan, now)


def _inactive(wallet: Wallet) -> PaymentRefused | None:
    if wallet.account.status != AccountStatus.ACTIVE:
        return PaymentRefused("account_not_active", f"your wallet is {wallet.account.status}")
    return None


def payout_start(
    *,
    customer_id: int,
    currency: str,
    amount_minor: int,
    msisdn: str,
    idempotency_key: str,
    now: datetime,
    note: str = "",
    beneficiary_name: str | None = None,
) -> Transfer:
    """Pay ``amount_minor`` from the customer's wallet to any MoMo number. With a
    ``beneficiary_name``, MoMo's registered name for the number must match it."""
    idempotency_key_check(idempotency_key)
    number = msisdn_normalise(msisdn)
    name = _clean_name(beneficiary_name)
    digest = _digest(
        TransferKind.PAYOUT,
        currency=currency,
        amount=amount_minor,
        party=pii_token("msisdn", number),
        note=note,
        name=pii_token("name", name) if name else "",
    )
    replay = payment_replay(client_id=customer_id, key=idempotency_key, digest=digest)
    if replay is not None:
        return replay
    return _wallet_to_momo(
        TransferKind.PAYOUT,
        customer_id=customer_id,
        key=idempotency_key,
        digest=digest,
        currency=currency,
        money=_money(currency, amount_minor),
        number=number,
        note=note,
        labels=("LightWay payout", "LightWay payment"),
        now=now,
        name=name,
        check_name=True,
    )


def remittance_payout_start(
    *,
    partner_user_id: int,
    currency: str,
    amount_minor: int,
    msisdn: str,
    external_id: str,
    idempotency_key: str,
    now: datetime,
    note: str = "",
    beneficiary_name: str | None = None,
) -> Transfer:
    """Pay an inbound remittance to a MoMo number from the partner's prefund (amount held
    on the prefund now, taken when MoMo reports SUCCESSFUL). ``external_id`` is the
    partner's reference: it is MoMo's ``externalId`` (MTN's reports show it) and finds the
    transfer later. No fee here and no customer limits (the partner prices and screens)."""
    idempotency_key_check(idempotency_key)
    number = msisdn_normalise(msisdn)
    name = _clean_name(beneficiary_name)
    ext = str(external_id or "").strip()
    if not _EXTERNAL_ID_RE.match(ext):
        raise ValidationFailed(
            f"external_id must be 1 to {EXTERNAL_ID_MAX} letters, digits or . _ : / -",
            details={"field": "external_id"},
        )
    digest = _digest(
        TransferKind.REMITTANCE,
        currency=currency,
        amount=amount_minor,
        party=pii_token("msisdn", number),
        external_id=ext,
        note=note,
        name=pii_token("name", name) if name else "",
    )
    replay = payment_replay(client_id=partner_user_id, key=idempotency_key, digest=digest)
    if replay is not None:
        return replay
    money = _money(currency, amount_minor)
    profile = (
        Profile.objects.select_related("partner")
        .filter(user_id=partner_user_id, realm=Realm.PARTNER)
        .first()
    )
    if profile is None or profile.partner is None:
        raise NotFound("partner not found", details={"partner_user_id": partner_user_id})
    target = _target(currency)
    refusal: PaymentRefused | None = None
    check = "skipped"
    if profile.partner.status != PartnerStatus.ACTIVE:
        refusal = PaymentRefused(
            "account_not_active", f"this partner account is {profile.partner.status}"
        )
    else:
        check, refusal = _name_check(Product.REMITTANCE, number, name, target)
    plan = _Plan(
        kind=TransferKind.REMITTANCE,
        operation=Operation.REMITTANCE_TRANSFER,
        client_id=partner_user_id,
        key=idempotency_key,
        digest=digest,
        money=money,
        target=target,
        msisdn=number,
        description=note or f"remittance {ext}",
        payer_message=momo_text("", f"{profile.partner.code} remittance"),
        payee_note=momo_text(note, "Money transfer via LightWay"),
        external_id=ext,
        prefund_partner=profile.partner.code,
        check_limits=False,
        refusal=refusal,
        audit={"name_check": check, "partner": profile.partner.code},
    )
    return _start(plan, now)


def partner_payout_start(
    *,
    partner_user_id: int,
    partner_code: str,
    idempotency_key: str,
    digest: str,
    send: Money,
    fee: FeeQuote,
    payout: Money,
    msisdn: str,
    external_id: str,
    note: str,
    now: datetime,
    record: Callable[[Transfer, Recorded, datetime], Mapping[str, object]],
    finish: Callable[[Transfer, Recorded, datetime], None],
    refusal: PaymentRefused | None = None,
) -> PaymentOutcome:
    """The payout of a partner's remittance (``application.remittances``): ``send`` + fee
    held on the partner's prefund in the send currency, ``payout`` paid by MoMo's
    remittance product to ``msisdn`` (its currency picks the market). The prefund is hot,
    so it is held by the transaction's last statements (``HoldFunds.last``); ``record``
    writes the caller's rows after the MoMo request and ``finish`` checks the caller's
    limits under the prefund's lock. The key was looked up by the caller."""
    idempotency_key_check(idempotency_key)
    target = _target(payout.currency.code)
    plan = _Plan(
        kind=TransferKind.REMITTANCE,
        operation=Operation.REMITTANCE_TRANSFER,
        client_id=partner_user_id,
        key=idempotency_key,
        digest=digest,
        money=send,
        target=target,
        msisdn=msisdn_normalise(msisdn),
        description=note or f"remittance {external_id}",
        payer_message=momo_text("", f"{partner_code} remittance"),
        payee_note=momo_text(note, "Money transfer via LightWay"),
        external_id=external_id,
        fee=fee,
        prefund_partner=partner_code,
        check_limits=False,
        refusal=refusal,
        audit={"partner": partner_code},
        payout=payout,
        hold_last=True,
        record_more=record,
        finish=finish,
    )
    return payment_record(
        _payment_plan(plan, now), idempotency_key=plan.key, digest=plan.digest, now=now
    )


# --- reads ----------------------------------------------------------------------------------------


def momo_request_for_transfer(transfer_id: uuid.UUID | str) -> MomoRequest | None:
    """The MoMo request carrying a transfer (None for a transfer MoMo never saw)."""
    return momo_request_of_transfer(transfer_id=transfer_id)


def momo_request_party(request: MomoRequest) -> str:
    """The request's payer/payee number (MSISDN digits), decrypted: mask it before showing."""
    return party_of(request)
