"""The customer panel's MTN MoMo pages (/app/momo/): deposit from MoMo, withdraw to MoMo,
send to a MoMo number, a status page per transfer and the list of the customer's payments.

- Every form carries an idempotency key, generated when the form is first shown and kept
  through its review step: submitting twice (a double click, the back button, a retry after
  a network error) never makes two payments; the second submit lands on the first one's
  status page.
- Withdrawals and payouts show the fee and the total before the customer confirms.
- The status page works without JavaScript (it reloads itself every few seconds until the
  payment is final); with JavaScript (``panels/momo.js``) it reads
  ``status.json`` every 2.5 s and updates in place, stopping once the payment is final.

Views parse the form, make one application call (``lightway.application.momo.flows``) and
redirect or render; domain errors are shown beside the fields they concern.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from lightway.application.authentication.errors import (
    StepUpRejected,
    StepUpRequired,
    TooManyAttempts,
)
from lightway.application.authentication.step_up import StepUpProof, momo_payout_with_step_up
from lightway.application.errors import (
    DomainError,
    IdempotencyConflict,
    NotFound,
    ValidationFailed,
)
from lightway.application.identity.phones import MARKETS, phone_normalise
from lightway.application.momo import flows
from lightway.application.momo.common import fee_for
from lightway.application.onboarding import registration
from lightway.application.transactions.history import transfer_state
from lightway.application.transactions.wallets import WalletView, wallet_list
from lightway.data.momo.models import MomoRequest, RequestStatus
from lightway.data.momo.selectors import transfers_recent_of
from lightway.data.money import Money, MoneyError, currency
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.interfaces.api.momo_customer import (
    MOMO_KINDS,
    momo_request_of,
    momo_transfer_get,
    momo_transfer_out,
)
from lightway.interfaces.api.schemas import MAX_AMOUNT
from lightway.interfaces.panels.access import requires
from lightway.interfaces.panels.common import apply_errors, now
from lightway.interfaces.panels.customer_labels import refusal_text, says_nothing_moved
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.panels.templatetags.l10n_money import money as money_text
from lightway.security.masking import mask_phone

log = logging.getLogger(__name__)

BASE = "/app/momo/"
POLL_SECONDS = 2.5  # the page script's interval (momo.js reads it from the page)
NOSCRIPT_REFRESH_SECONDS = 5
RECENT = 50

KIND_LABELS: dict[str, str] = {
    TransferKind.DEPOSIT: gettext_noop("Deposit from MoMo"),
    TransferKind.WITHDRAWAL: gettext_noop("Withdrawal to MoMo"),
    TransferKind.PAYOUT: gettext_noop("Sent to a MoMo number"),
    TransferKind.P2P: gettext_noop("Wallet to wallet"),
    TransferKind.REMITTANCE: gettext_noop("Money from abroad"),
    TransferKind.REVERSAL: gettext_noop("Reversal"),
}

FAILED_HEADLINES: dict[str, str] = {
    TransferKind.DEPOSIT: gettext_noop("The deposit did not go through"),
    TransferKind.WITHDRAWAL: gettext_noop("The withdrawal did not go through"),
}
AFTER_FAILURE: dict[str, str] = {
    TransferKind.DEPOSIT: gettext_noop("Nothing was added to your wallet."),
    TransferKind.WITHDRAWAL: gettext_noop("Nothing was taken from your wallet."),
    TransferKind.PAYOUT: gettext_noop("Nothing was taken from your wallet."),
}


def kind_label(kind: str) -> str:
    """The kind of a payment in the active language (unknown kinds as they are)."""
    label = KIND_LABELS.get(kind)
    return gettext(label) if label else kind


def _uid(request: HttpRequest) -> int:
    return int(request.user.pk or 0)


def new_key() -> str:
    return f"web-{uuid.uuid4()}"


# --- amounts and numbers -------------------------------------------------------------------------

_AMOUNT = re.compile(r"^\d+(?:\.\d+)?$")
_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def example_amount(code: str) -> str:
    try:
        exponent = currency(code).exponent
    except MoneyError:
        exponent = 0
    return "5000" if exponent == 0 else "50.00"


def parse_major(text: str, code: str) -> int:
    """A typed amount in major units ("5000", "12.50", "1,500") as integer minor units of
    ``code``, or ValidationFailed (field ``amount``) saying what is wrong."""
    cur = currency(code)
    raw = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if _GROUPED.match(raw):
        raw = raw.replace(",", "")
    if not raw:
        raise ValidationFailed(gettext("Enter an amount."), details={"field": "amount"})
    if not _AMOUNT.match(raw):
        raise ValidationFailed(
            gettext("Enter the amount as a number, for example %(example)s.")
            % {"example": example_amount(code)},
            details={"field": "amount"},
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        raise ValidationFailed(
            gettext("Enter the amount as a number."), details={"field": "amount"}
        ) from None
    decimals = len(raw.partition(".")[2].rstrip("0"))
    if decimals > cur.exponent:
        raise ValidationFailed(
            gettext("%(currency)s amounts have no decimals.") % {"currency": code}
            if cur.exponent == 0
            else gettext("%(currency)s amounts have at most %(decimals)d decimals.")
            % {"currency": code, "decimals": cur.exponent},
            details={"field": "amount"},
        )
    minor = int(value.scaleb(cur.exponent))
    if minor <= 0:
        raise ValidationFailed(
            gettext("Enter an amount greater than zero."), details={"field": "amount"}
        )
    if minor > MAX_AMOUNT:
        raise ValidationFailed(gettext("This amount is too large."), details={"field": "amount"})
    return minor


def normalise_msisdn(raw: str, *, country: str) -> str:
    """The MoMo number as typed, tidied: spaces, dashes, dots and brackets dropped; a
    national number (leading 0) is put in international form for the customer's country.
    Whether MoMo can pay it is the payment's own check."""
    text = re.sub(r"[\s\-.()\u00a0]", "", raw or "")
    if not text:
        raise ValidationFailed(gettext("Enter a MoMo number."), details={"field": "msisdn"})
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.fullmatch(r"\+?\d{6,15}", text):
        raise ValidationFailed(
            gettext("Enter the number in digits, for example +256 772 123 456."),
            details={"field": "msisdn"},
        )
    if text.startswith("0") and country in MARKETS:
        return phone_normalise(text, country=country, field="msisdn")
    return text


# --- forms ---------------------------------------------------------------------------------------


def _attrs(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class MomoForm(AccessibleForm):
    """Currency (one of the customer's wallets), amount in major units, the idempotency key."""

    currency = forms.ChoiceField(
        label=gettext_lazy("Wallet"),
        error_messages={
            "required": gettext_lazy("Choose a wallet."),
            "invalid_choice": gettext_lazy("Choose one of your wallets."),
        },
        widget=forms.Select(attrs=_attrs()),
    )
    amount = forms.CharField(
        label=gettext_lazy("Amount"),
        max_length=32,
        error_messages={"required": gettext_lazy("Enter an amount.")},
        widget=forms.TextInput(attrs=_attrs(inputmode="decimal", autocomplete="off")),
    )
    key = forms.CharField(max_length=200, required=False, widget=forms.HiddenInput)
    # The step-up (an SMS code, as the API asks for): the challenge and the code typed.
    challenge = forms.CharField(max_length=1024, required=False, widget=forms.HiddenInput)
    code = forms.CharField(
        label=gettext_lazy("Code from the SMS"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs=_attrs(autocomplete="one-time-code", inputmode="numeric")),
    )

    def __init__(
        self,
        data: Any = None,
        *,
        currencies: list[tuple[str, str]],
        country: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(data, **kwargs)
        self.fields["currency"].choices = currencies  # type: ignore[attr-defined]
        self.country = country
        self.amount_minor = 0

    def clean_msisdn(self) -> str:
        try:
            return normalise_msisdn(
                str(self.cleaned_data.get("msisdn") or ""), country=self.country
            )
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message[:1].upper() + exc.message[1:]) from None

    def clean_key(self) -> str:
        key = str(self.cleaned_data.get("key") or "")
        return key if key and key.isprintable() else new_key()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        code = data.get("currency")
        if code and "amount" in data:
            try:
                self.amount_minor = parse_major(str(data["amount"]), str(code))
            except ValidationFailed as exc:
                self.add_error("amount", exc.message)
        return data


class DepositForm(MomoForm):
    msisdn = forms.CharField(
        label=gettext_lazy("MoMo number that pays"),
        max_length=32,
        help_text=gettext_lazy(
            "MTN MoMo sends a payment request to this phone: approve it there with the MoMo PIN."
        ),
        error_messages={"required": gettext_lazy("Enter a MoMo number.")},
        widget=forms.TextInput(attrs=_attrs(autocomplete="tel", inputmode="tel")),
    )
    field_order = ["currency", "amount", "msisdn"]


class WithdrawForm(MomoForm):
    pass


class SendForm(MomoForm):
    msisdn = forms.CharField(
        label=gettext_lazy("Recipient's MoMo number"),
        max_length=32,
        error_messages={"required": gettext_lazy("Enter the recipient's MoMo number.")},
        widget=forms.TextInput(attrs=_attrs(autocomplete="off", inputmode="tel")),
    )
    name = forms.CharField(
        label=gettext_lazy("Recipient's name (optional)"),
        max_length=120,
        required=False,
        help_text=gettext_lazy(
            "If you enter it, we check it against the name registered with MTN MoMo and "
            "stop the payment if it does not match."
        ),
        widget=forms.TextInput(attrs=_attrs(autocomplete="off")),
    )
    note = forms.CharField(
        label=gettext_lazy("Message for the recipient (optional)"),
        max_length=160,
        required=False,
        widget=forms.TextInput(attrs=_attrs(autocomplete="off")),
    )
    field_order = ["msisdn", "name", "currency", "amount", "note"]

    def clean_name(self) -> str:
        name = " ".join(str(self.cleaned_data.get("name") or "").split())
        if name and not name.isprintable():
            raise forms.ValidationError(gettext("Use letters and spaces only."))
        return name

    def clean_note(self) -> str:
        note = " ".join(str(self.cleaned_data.get("note") or "").split())
        if note and not note.isprintable():
            raise forms.ValidationError(gettext("Use plain text only."))
        return note


# --- page data -----------------------------------------------------------------------------------


def _wallets(uid: int) -> list[WalletView]:
    return list(wallet_list(owner_id=uid))


def _text(amount: int, code: str) -> str:
    """An amount in the page's language ("UGX 1,234,500" / "1 234 500 UGX")."""
    return money_text(amount, code)


def _currency_choices(
    wallets: list[WalletView], *, country: str, open_new: bool = False
) -> list[tuple[str, str]]:
    """The customer's wallets, their market's currency first; for a deposit also that
    currency when they have no wallet in it yet (the deposit opens it)."""
    home = MARKETS.get(country, "")
    choices = [
        (
            w.wallet.currency,
            gettext("%(currency)s · available %(amount)s")
            % {"currency": w.wallet.currency, "amount": _text(w.available, w.wallet.currency)},
        )
        for w in sorted(wallets, key=lambda w: (w.wallet.currency != home, w.wallet.currency))
    ]
    if open_new and home and home not in {c for c, _ in choices}:
        choices.insert(0, (home, gettext("%(currency)s · a new wallet") % {"currency": home}))
    return choices


def _own_number(uid: int) -> str:
    """The customer's verified phone number (E.164), for the deposit form; "" if none."""
    try:
        return flows.customer_msisdn(customer_id=uid)
    except DomainError:
        return ""


def _form_page(
    request: HttpRequest, template: str, form: MomoForm, status: int = 200, **extra: Any
) -> HttpResponse:
    return render(
        request,
        template,
        {"form": form, "account": registration.account_overview(user_id=_uid(request)), **extra},
        status=400 if form.errors else status,
    )


def _after_error(form: MomoForm, exc: DomainError) -> None:
    """Show a refusal beside its field; the next submit is a new attempt (a new key)."""
    if isinstance(exc, IdempotencyConflict):
        form.add_error(
            None,
            gettext(
                "This form was already sent with other details. Check your recent payments "
                "before you try again."
            ),
        )
    else:
        field = str(exc.details.get("field") or "")
        message = exc.message[:1].upper() + exc.message[1:]
        shown = DomainError(
            message, details={**exc.details, "field": FIELD_NAMES.get(field, field)}
        )
        apply_errors(form, shown, default_field=None)
    data = form.data.copy()  # type: ignore[attr-defined]
    data["key"] = new_key()
    data["challenge"] = ""
    data["code"] = ""
    form.data = data


# The use cases' field names -> the form's
FIELD_NAMES = {"amount_minor": "amount", "beneficiary_name": "name", "message": "note"}


def _status_url(transfer: Transfer) -> str:
    return f"{BASE}transfers/{transfer.id}/"


# --- the MoMo home: actions and the customer's payments ------------------------------------------


@dataclass(frozen=True)
class Row:
    transfer: Transfer
    label: str
    amount: str
    incoming: bool
    phase: str
    status_label: str
    link: str


PHASE_LABELS = {
    "submitted": gettext_noop("Submitted"),
    "waiting_for_approval": gettext_noop("Waiting for approval"),
    "processing": gettext_noop("Processing"),
    "succeeded": gettext_noop("Succeeded"),
    "failed": gettext_noop("Failed"),
}


def _recent(uid: int) -> list[Row]:
    """The customer's newest payments. A refusal (recorded as a failed transfer that never
    moved money: ``history.transfer_state``) shows its amount without a sign and says
    "Refused, no money moved"; someone else's refused attempt toward the customer is not
    listed at all (the history's rules)."""
    rows = []
    for t in transfers_recent_of(customer_id=uid, limit=RECENT):
        if t.client_id != uid and t.status == TransferStatus.FAILED:
            continue
        req = getattr(t, "momo_request", None) if t.kind in MOMO_KINDS else None
        state = transfer_state(t, req)
        if t.kind in MOMO_KINDS:
            phase = momo_transfer_out(t, req)["phase"]
        elif t.status == TransferStatus.SUCCEEDED:
            phase = "succeeded"
        elif t.status in (TransferStatus.FAILED, TransferStatus.REVERSED):
            phase = "failed"
        else:
            phase = "processing"
        incoming = t.kind == TransferKind.DEPOSIT or (
            t.kind != TransferKind.DEPOSIT
            and t.destination_wallet is not None
            and t.destination_wallet.owner_id == uid
            and t.client_id != uid
        )
        moved = state not in ("failed", "refused")
        sign = ("+ " if incoming else "\u2212 ") if moved else ""
        if t.status == TransferStatus.REVERSED:
            status_label = gettext("Reversed")
        elif not moved:
            status_label = gettext(NOT_MOVED_LABELS[state])
        else:
            status_label = gettext(PHASE_LABELS[phase])
        rows.append(
            Row(
                transfer=t,
                label=kind_label(t.kind),
                amount=sign + _text(t.amount, t.currency),
                incoming=incoming,
                phase=phase,
                status_label=status_label,
                link=(
                    _status_url(t)
                    if t.kind in MOMO_KINDS and t.client_id == uid
                    else f"/app/history/{t.id}/"
                ),
            )
        )
    return rows


# The state of a status step, read out by screen readers after its label
STEP_STATES = {
    "done": gettext_noop("done"),
    "current": gettext_noop("current step"),
    "todo": gettext_noop("to come"),
    "skipped": gettext_noop("skipped"),
    "failed": gettext_noop("failed"),
}
NOT_MOVED_LABELS = {
    "failed": gettext_noop("Failed, no money moved"),
    "refused": gettext_noop("Refused, no money moved"),
}


@require_GET
@requires("self.transfer")
def momo_home(request: HttpRequest) -> HttpResponse:
    uid = _uid(request)
    return render(
        request,
        "panels/customer/momo/home.html",
        {"wallets": _wallets(uid), "rows": _recent(uid), "wallet_text": _text},
    )


# --- deposit -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("self.transfer")
def deposit(request: HttpRequest) -> HttpResponse:
    uid = _uid(request)
    account = registration.account_overview(user_id=uid)
    choices = _currency_choices(_wallets(uid), country=account.country, open_new=True)
    template = "panels/customer/momo/deposit.html"
    if request.method == "GET":
        form = DepositForm(
            currencies=choices,
            country=account.country,
            initial={"key": new_key(), "msisdn": _own_number(uid), "currency": _default(choices)},
        )
        return _form_page(request, template, form)
    form = DepositForm(request.POST, currencies=choices, country=account.country)
    if form.is_valid():
        data = form.cleaned_data
        try:
            transfer = flows.deposit_start(
                customer_id=uid,
                currency=data["currency"],
                amount_minor=form.amount_minor,
                msisdn=data["msisdn"],
                idempotency_key=data["key"],
                now=now(),
            )
        except DomainError as exc:
            _after_error(form, exc)
        else:
            return HttpResponseRedirect(_status_url(transfer))
    return _form_page(request, template, form)


def _default(choices: list[tuple[str, str]]) -> str:
    return choices[0][0] if choices else ""


# --- withdraw and send: a form, a review with the fee, then confirm ------------------------------


@dataclass(frozen=True)
class Review:
    amount: str
    fee: str
    total: str
    available: str
    fee_zero: bool


def _review(form: MomoForm, kind: str, wallets: list[WalletView], uid: int) -> Review | None:
    """The fee and total for a valid form; None (with the error on the form) when the fee
    cannot be quoted or the wallet's available balance does not cover the total."""
    code = form.cleaned_data["currency"]
    money = Money.of(form.amount_minor, code)
    try:
        _fee_kind, quote = fee_for(kind, money, now())
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None
    total = money.amount + quote.fee.amount
    wallet = next((w for w in wallets if w.wallet.currency == code), None)
    available = wallet.available if wallet else 0
    if total > available:
        form.add_error(
            "amount",
            gettext(
                "Your %(currency)s wallet has %(available)s available; this needs %(total)s "
                "including the fee of %(fee)s."
            )
            % {
                "currency": code,
                "available": _text(available, code),
                "total": _text(total, code),
                "fee": _text(quote.fee.amount, code),
            },
        )
        return None
    return Review(
        amount=_text(money.amount, code),
        fee=_text(quote.fee.amount, code),
        total=_text(total, code),
        available=_text(available, code),
        fee_zero=quote.fee.amount == 0,
    )


def _two_step(
    request: HttpRequest,
    *,
    kind: str,
    form_class: type[MomoForm],
    template: str,
    start: Any,
) -> HttpResponse:
    """Form -> review (fee and total) -> confirm; "Change" goes back to the filled form."""
    uid = _uid(request)
    country = registration.account_overview(user_id=uid).country
    wallets = _wallets(uid)
    choices = _currency_choices(wallets, country=country)
    if request.method == "GET":
        form = form_class(
            currencies=choices,
            country=country,
            initial={"key": new_key(), "currency": _default(choices)},
        )
        return _form_page(request, template, form)
    if "edit" in request.POST:
        initial = {name: request.POST.get(name, "") for name in form_class.base_fields}
        form = form_class(currencies=choices, country=country, initial=initial)
        return _form_page(request, template, form)
    form = form_class(request.POST, currencies=choices, country=country)
    if not form.is_valid():
        return _form_page(request, template, form)
    review = _review(form, kind, wallets, uid)
    if review is None:
        return _form_page(request, template, form)
    hidden = _hidden(form)
    if "confirm" not in request.POST:
        return _form_page(request, template, form, review=review, hidden=hidden)
    data = form.cleaned_data
    proof = None
    if data.get("challenge") and data.get("code"):
        proof = StepUpProof(challenge_id=str(data["challenge"]), code=str(data["code"]))
    elif data.get("challenge"):
        form.add_error("code", gettext("Enter the code we sent you by SMS."))
        return _step_up_page(request, template, form, review, hidden, str(data["challenge"]))
    try:
        transfer = start(uid, form, proof)
    except StepUpRequired as exc:
        challenge = str(exc.details.get("challenge_id", ""))
        return _step_up_page(request, template, form, review, hidden, challenge, status=200)
    except StepUpRejected:
        form.add_error(
            "code",
            gettext(
                "This code is wrong or has expired. Check the SMS and try again, or choose "
                "Change and confirm again to get a new code."
            ),
        )
        return _step_up_page(request, template, form, review, hidden, str(data["challenge"]))
    except TooManyAttempts as exc:
        form.add_error(
            "code",
            gettext("Too many wrong codes. Try again in %(minutes)d minutes.")
            % {"minutes": max(1, -(-exc.retry_after // 60))},
        )
        return _step_up_page(request, template, form, review, hidden, str(data["challenge"]))
    except DomainError as exc:
        _after_error(form, exc)
        return _form_page(request, template, form)
    return HttpResponseRedirect(_status_url(transfer))


def _step_up_page(
    request: HttpRequest,
    template: str,
    form: MomoForm,
    review: Review,
    hidden: list[tuple[str, str]],
    challenge: str,
    status: int = 400,
) -> HttpResponse:
    """The review again, with the SMS code to type (the API's step-up, on the web):
    ``status`` 200 when the code was just sent, 400 with the error beside the code."""
    response = render(
        request,
        template,
        {
            "form": form,
            "account": registration.account_overview(user_id=_uid(request)),
            "review": review,
            "hidden": hidden,
            "step_up": True,
            "challenge": challenge,
        },
        status=status,
    )
    return response


def _hidden(form: MomoForm) -> list[tuple[str, str]]:
    """The reviewed values, carried to the confirm step in hidden fields (not the step-up's
    challenge and code: the code page carries those itself)."""
    return [
        (name, str(form.cleaned_data.get(name) or ""))
        for name in form.fields
        if name not in STEP_UP_FIELDS
    ]


STEP_UP_FIELDS = ("challenge", "code")


@require_http_methods(["GET", "POST"])
@requires("self.transfer")
def withdraw(request: HttpRequest) -> HttpResponse:
    def start(uid: int, form: MomoForm, proof: StepUpProof | None) -> Transfer:
        data, at = form.cleaned_data, now()
        return momo_payout_with_step_up(
            client_id=uid,
            idempotency_key=data["key"],
            kind="withdrawal",
            currency=data["currency"],
            amount_minor=form.amount_minor,
            msisdn=None,
            interactive=True,
            proof=proof,
            now=at,
            check=lambda: flows.outbound_check(
                customer_id=uid,
                kind="withdrawal",
                currency=data["currency"],
                amount_minor=form.amount_minor,
                msisdn=None,
                now=at,
            ),
            start=lambda: flows.withdrawal_start(
                customer_id=uid,
                currency=data["currency"],
                amount_minor=form.amount_minor,
                idempotency_key=data["key"],
                now=at,
            ),
        )

    return _two_step(
        request,
        kind=TransferKind.WITHDRAWAL,
        form_class=WithdrawForm,
        template="panels/customer/momo/withdraw.html",
        start=start,
    )


@require_http_methods(["GET", "POST"])
@requires("self.transfer")
def send(request: HttpRequest) -> HttpResponse:
    def start(uid: int, form: MomoForm, proof: StepUpProof | None) -> Transfer:
        data, at = form.cleaned_data, now()
        return momo_payout_with_step_up(
            client_id=uid,
            idempotency_key=data["key"],
            kind="payout",
            currency=data["currency"],
            amount_minor=form.amount_minor,
            msisdn=flows.msisdn_normalise(data["msisdn"]),
            interactive=True,
            proof=proof,
            now=at,
            check=lambda: flows.outbound_check(
                customer_id=uid,
                kind="payout",
                currency=data["currency"],
                amount_minor=form.amount_minor,
                msisdn=data["msisdn"],
                now=at,
            ),
            start=lambda: flows.payout_start(
                customer_id=uid,
                currency=data["currency"],
                amount_minor=form.amount_minor,
                msisdn=data["msisdn"],
                idempotency_key=data["key"],
                now=at,
                note=data.get("note") or "",
                beneficiary_name=data.get("name") or None,
            ),
        )

    return _two_step(
        request,
        kind=TransferKind.PAYOUT,
        form_class=SendForm,
        template="panels/customer/momo/send.html",
        start=start,
    )


# --- status --------------------------------------------------------------------------------------


def reason_text(transfer: Transfer, req: MomoRequest | None) -> str:
    """Why a payment failed, in plain words, in the page's language (``refusal_text``)."""
    message = transfer.failure_message or (req.reason_message if req else "")
    if not transfer.failure_code and not message:
        return gettext("The payment did not go through.")
    text = refusal_text(transfer.failure_code, message)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def masked_number(req: MomoRequest | None) -> str:
    """The MoMo number of a request, masked as everywhere else (``mask_phone``)."""
    if req is None:
        return ""
    try:
        digits = flows.momo_request_party(req)
    except Exception:  # an undecryptable number is simply not shown
        log.warning("momo party not readable", extra={"momo_request": req.pk})
        return ""
    return mask_phone(digits)


def status_view(transfer: Transfer, req: MomoRequest | None, uid: int) -> dict[str, Any]:
    """The status page's content: the API's status shape plus the texts and steps shown."""
    out = momo_transfer_out(transfer, req)
    phase = out["phase"]
    kind = transfer.kind
    code = transfer.currency
    money = _text(transfer.amount, code)
    number = masked_number(req)
    deposit_kind = kind == TransferKind.DEPOSIT
    middle = gettext("Approve on your phone") if deposit_kind else gettext("MTN MoMo pays out")
    final_ok = gettext("In your wallet") if deposit_kind else gettext("Paid")
    accepted = req is not None and req.status != RequestStatus.NEW
    if phase == "submitted":
        states = ["current", "todo", "todo"]
        headline = gettext("Sending your request to MTN MoMo…")
        if not deposit_kind:
            detail = gettext("The amount and fee are reserved in your wallet.")
        elif number:
            detail = gettext("%(number)s will show a MoMo prompt in a moment.") % {"number": number}
        else:
            detail = gettext("Your phone will show a MoMo prompt in a moment.")
    elif phase in ("waiting_for_approval", "processing"):
        states = ["done", "current", "todo"]
        if deposit_kind:
            headline = gettext("Approve the payment on your phone")
            if number:
                detail = gettext(
                    "MTN MoMo sent a payment request for %(amount)s to %(number)s. Enter your "
                    "MoMo PIN there to approve it; this page updates by itself."
                ) % {"amount": money, "number": number}
            else:
                detail = gettext(
                    "MTN MoMo sent a payment request for %(amount)s to your phone. Enter your "
                    "MoMo PIN there to approve it; this page updates by itself."
                ) % {"amount": money}
        else:
            headline = gettext("MTN MoMo is processing the payment")
            detail = gettext("The amount and fee are reserved in your wallet until MoMo confirms.")
    elif phase == "succeeded":
        states = ["done", "done", "done"]
        credited = _text(transfer.amount - transfer.fee, code)
        if deposit_kind:
            headline = gettext("%(amount)s is in your wallet") % {"amount": credited}
        elif number:
            headline = gettext("%(amount)s was sent to %(number)s") % {
                "amount": money,
                "number": number,
            }
        else:
            headline = gettext("%(amount)s was sent to the MoMo number") % {"amount": money}
        detail = gettext("Payment succeeded.")
    else:
        states = ["done", "done" if accepted else "skipped", "failed"]
        headline = gettext(
            FAILED_HEADLINES.get(kind, gettext_noop("The payment did not go through"))
        )
        reason = reason_text(transfer, req)
        after_text = AFTER_FAILURE.get(kind, "")
        after = (
            ""
            if says_nothing_moved(transfer.failure_code) or not after_text
            else gettext(after_text)
        )
        detail = f"{reason} {after}".strip()
    labels = [gettext("Submitted"), middle, gettext("Failed") if phase == "failed" else final_ok]
    steps = [
        {"label": label, "state": state, "state_text": gettext(STEP_STATES.get(state, state))}
        for label, state in zip(labels, states, strict=True)
    ]
    if req is not None and req.needs_review and not out["terminal"]:
        detail = gettext(
            "This is taking longer than usual. We are checking with MTN MoMo; your money is "
            "safe and this page will update."
        )
    wallet = next((w for w in _wallets(uid) if w.wallet.currency == code), None)
    if deposit_kind:
        total_label, total = gettext("Added to your wallet"), transfer.amount - transfer.fee
    else:
        total_label, total = gettext("Taken from your wallet"), transfer.amount + transfer.fee
    return {
        **out,
        "id": str(transfer.id),
        "created_at": transfer.created_at.isoformat(),
        "updated_at": out["updated_at"].isoformat(),
        "kind_label": kind_label(kind),
        "status_label": gettext(PHASE_LABELS[phase]),
        "headline": headline,
        "detail": detail,
        "steps": steps,
        "number": number,
        "amount_text": money,
        "fee_text": _text(transfer.fee, code),
        "total_label": total_label,
        "total_text": _text(total, code),
        "balance_text": _text(wallet.balance, code) if wallet else "",
        "available_text": _text(wallet.available, code) if wallet else "",
    }


def _transfer_or_404(request: HttpRequest, transfer_id: uuid.UUID) -> Transfer | None:
    try:
        return momo_transfer_get(client_id=_uid(request), transfer_id=transfer_id)
    except NotFound:
        return None


@never_cache
@require_GET
@requires("self.transfer")
def status_page(request: HttpRequest, transfer_id: uuid.UUID) -> HttpResponse:
    transfer = _transfer_or_404(request, transfer_id)
    if transfer is None:
        return render(request, "panels/customer/momo/not_found.html", status=404)
    view = status_view(transfer, momo_request_of(transfer), _uid(request))
    return render(
        request,
        "panels/customer/momo/status.html",
        {
            "t": view,
            "created": transfer.created_at,
            "status_url": f"{_status_url(transfer)}status.json",
            "poll_ms": int(POLL_SECONDS * 1000),
            "refresh_seconds": NOSCRIPT_REFRESH_SECONDS,
        },
    )


@never_cache
@require_GET
@requires("self.transfer")
def status_json(request: HttpRequest, transfer_id: uuid.UUID) -> HttpResponse:
    transfer = _transfer_or_404(request, transfer_id)
    if transfer is None:
        return JsonResponse(
            {"error": {"code": "not_found", "message": "transfer not found", "details": {}}},
            status=404,
        )
    view = status_view(transfer, momo_request_of(transfer), _uid(request))
    return JsonResponse(view)
