"""The customer's money pages: send to a LightWay user (``/app/send/``), the history
(``/app/history/``) with a detail page and a PDF receipt per payment, and the monthly
statements (``/app/statements/``). docs/panels.md, "Money".

Views parse, make one application call and render: the payment goes through
``transfer_create_with_step_up`` (the API's own use case, so idempotency, limits, fees,
the step-up code and refusals are the API's), the reads through
``application.transactions.history`` / ``receipts`` / ``statements``.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from lightway.application.authentication.errors import (
    StepUpRejected,
    StepUpRequired,
    TooManyAttempts,
)
from lightway.application.authentication.step_up import StepUpProof, transfer_create_with_step_up
from lightway.application.errors import (
    DomainError,
    IdempotencyConflict,
    NotFound,
    PaymentRefused,
)
from lightway.application.fx.quotes import fx_quote_get
from lightway.application.identity.phones import MARKETS
from lightway.application.onboarding import registration
from lightway.application.transactions.commission import fee_quote
from lightway.application.transactions.fx_send import fx_send, fx_send_quote
from lightway.application.transactions.history import (
    DIRECTIONS,
    KINDS,
    STATUSES,
    HistoryRow,
    history_filter_clean,
    history_page,
    position_decode,
)
from lightway.application.transactions.receipts import PaymentDetail, payment_detail, receipt_pdf
from lightway.application.transactions.recipients import Recipient, recipient_find
from lightway.application.transactions.statements import (
    statement_choices,
    statement_csv,
    statement_pdf,
    wallet_statement_month,
)
from lightway.application.transactions.transfers import TransferRequest
from lightway.application.transactions.wallets import WalletView, wallet_list
from lightway.data.money import Money
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.interfaces.panels.access import requires
from lightway.interfaces.panels.common import apply_errors, now
from lightway.interfaces.panels.customer_labels import refusal_text
from lightway.interfaces.panels.customer_momo import new_key, parse_major
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.panels.templatetags.l10n_money import money as money_text

HISTORY = "/app/history/"

KIND_LABELS = {
    "p2p": gettext_lazy("Wallet to wallet"),
    "deposit": gettext_lazy("Deposit from MoMo"),
    "withdrawal": gettext_lazy("Withdrawal to MoMo"),
    "payout": gettext_lazy("Sent to a MoMo number"),
    "exchange": gettext_lazy("Currency exchange"),
    "remittance": gettext_lazy("Money from abroad"),
    "reversal": gettext_lazy("Reversal"),
}
STATE_LABELS = {
    "succeeded": gettext_lazy("Succeeded"),
    "in_progress": gettext_lazy("In progress"),
    "failed": gettext_lazy("Failed, no money moved"),
    "refused": gettext_lazy("Refused, no money moved"),
    "reversed": gettext_lazy("Reversed"),
}
DIRECTION_LABELS = {"in": gettext_lazy("Money in"), "out": gettext_lazy("Money out")}
TIMELINE_LABELS = {
    "created": gettext_lazy("Created"),
    "validated": gettext_lazy("Checked"),
    "held": gettext_lazy("Amount reserved"),
    "submitted": gettext_lazy("Sent to MTN MoMo"),
    "pending": gettext_lazy("Waiting for MTN MoMo"),
    "succeeded": gettext_lazy("Succeeded"),
    "failed": gettext_lazy("Failed"),
    "reversed": gettext_lazy("Reversed"),
}


def _uid(request: HttpRequest) -> int:
    return int(request.user.pk or 0)


# --- rows as shown -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowView:
    id: str
    link: str
    label: str
    counterparty: str
    description: str
    created: Any
    amount: str  # signed for money that moved, plain for a refusal or failure
    fee: str  # "" when none or not the customer's
    state: str
    state_label: str
    incoming: bool
    moved: bool


def row_view(row: HistoryRow, uid: int) -> RowView:
    t = row.transfer
    moved = row.state in ("succeeded", "in_progress", "reversed")
    amount = money_text(t.amount, t.currency)
    if row.direction == "both" and row.receive_currency:
        receive = money_text(row.receive_amount, row.receive_currency)
        amount = f"\u2212 {amount} \u2192 + {receive}" if moved else f"{amount} \u2192 {receive}"
    elif moved:
        amount = ("+ " if row.direction == "in" else "\u2212 ") + amount
    fee = ""
    if t.fee and t.client_id == uid:
        fee = _("fee %(fee)s") % {"fee": money_text(t.fee, t.currency)}
    label = KIND_LABELS.get(t.kind, t.kind)
    if t.kind == TransferKind.P2P:
        label = _("Received") if row.direction == "in" else _("Sent")
    return RowView(
        id=str(t.id),
        link=f"{HISTORY}{t.id}/",
        label=str(label),
        counterparty=row.counterparty,
        description=t.description,
        created=t.created_at,
        amount=amount,
        fee=fee,
        state=row.state,
        state_label=str(STATE_LABELS[row.state]),
        incoming=row.direction == "in",
        moved=moved,
    )


# --- send to a LightWay user ---------------------------------------------------------------------


def _attrs(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class SendForm(AccessibleForm):
    phone = forms.CharField(
        label=gettext_lazy("Recipient's mobile number"),
        max_length=32,
        help_text=gettext_lazy("The number they use to sign in to LightWay."),
        error_messages={"required": gettext_lazy("Enter the recipient's mobile number.")},
        widget=forms.TextInput(attrs=_attrs(autocomplete="off", inputmode="tel")),
    )
    currency = forms.ChoiceField(
        label=gettext_lazy("From your wallet"),
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
    description = forms.CharField(
        label=gettext_lazy("What is it for? (optional)"),
        max_length=140,
        required=False,
        help_text=gettext_lazy("Both of you see it in your history."),
        widget=forms.TextInput(attrs=_attrs(autocomplete="off")),
    )
    receive_currency = forms.ChoiceField(
        label=gettext_lazy("They receive"),
        required=False,
        help_text=gettext_lazy(
            "The currency of their wallet. Another currency than yours is exchanged at a "
            "price you see before you confirm; the amount is what they receive."
        ),
        error_messages={"invalid_choice": gettext_lazy("Choose a currency from the list.")},
        widget=forms.Select(attrs=_attrs()),
    )
    key = forms.CharField(max_length=200, required=False, widget=forms.HiddenInput)
    quote = forms.UUIDField(required=False, widget=forms.HiddenInput)
    challenge = forms.CharField(max_length=1024, required=False, widget=forms.HiddenInput)
    code = forms.CharField(
        label=gettext_lazy("Code from the SMS"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs=_attrs(autocomplete="one-time-code", inputmode="numeric")),
    )

    def __init__(self, data: Any = None, *, currencies: list[tuple[str, str]], **kw: Any):
        super().__init__(data, **kw)
        self.fields["currency"].choices = currencies  # type: ignore[attr-defined]
        self.fields["receive_currency"].choices = [  # type: ignore[attr-defined]
            ("", _("The same as mine")),
            *((c, c) for c in RECEIVE_CURRENCIES),
        ]
        self.amount_minor = 0

    @property
    def receive_code(self) -> str:
        data = self.cleaned_data
        return str(data.get("receive_currency") or data.get("currency") or "")

    def clean_key(self) -> str:
        key = str(self.cleaned_data.get("key") or "")
        return key if key and key.isprintable() else new_key()

    def clean_description(self) -> str:
        text = " ".join(str(self.cleaned_data.get("description") or "").split())
        if text and not text.isprintable():
            raise forms.ValidationError(_("Use plain text only."))
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        code = data.get("receive_currency") or data.get("currency")
        if code and "amount" in data:
            try:
                self.amount_minor = parse_major(str(data["amount"]), str(code))
            except DomainError as exc:
                self.add_error("amount", exc.message)
        return data


@dataclass(frozen=True)
class Review:
    recipient: Recipient
    amount: str
    fee: str
    fee_zero: bool
    total: str
    available: str


SEND_FIELDS = ("phone", "currency", "receive_currency", "amount", "description", "key")
# Wallet currencies a customer may be paid in: the markets' and the two held abroad.
RECEIVE_CURRENCIES = sorted({*MARKETS.values(), "USD", "EUR"})


def _send_page(
    request: HttpRequest, form: SendForm, status: int = 200, **extra: Any
) -> HttpResponse:
    return render(
        request,
        "panels/customer/money/send.html",
        {"form": form, **extra},
        status=400 if form.errors else status,
    )


def _wallet_choices(wallets: list[WalletView]) -> list[tuple[str, str]]:
    return [
        (
            w.wallet.currency,
            _("%(currency)s · available %(amount)s")
            % {"currency": w.wallet.currency, "amount": money_text(w.available, w.wallet.currency)},
        )
        for w in wallets
    ]


def _fresh_key(form: SendForm) -> None:
    data = form.data.copy()  # type: ignore[attr-defined]
    data["key"] = new_key()
    data["challenge"] = ""
    data["code"] = ""
    form.data = data


@require_http_methods(["GET", "POST"])
@requires("self.transfer")
def send(request: HttpRequest) -> HttpResponse:
    """Form -> review (recipient masked, amount, fee, total) -> confirm (an SMS code when
    the API's step-up rules ask for one) -> the payment's page."""
    uid = _uid(request)
    wallets = list(wallet_list(owner_id=uid))
    choices = _wallet_choices(wallets)
    if request.method == "GET":
        form = SendForm(
            currencies=choices,
            initial={"key": new_key(), "currency": choices[0][0] if choices else ""},
        )
        return _send_page(request, form)
    if "edit" in request.POST:
        initial = {name: request.POST.get(name, "") for name in SEND_FIELDS}
        return _send_page(request, SendForm(currencies=choices, initial=initial))
    form = SendForm(request.POST, currencies=choices)
    if not form.is_valid():
        return _send_page(request, form)
    data = form.cleaned_data
    code = str(data["currency"])
    receive = form.receive_code
    account = registration.account_overview(user_id=uid)
    at = now()
    try:
        recipient = recipient_find(
            payer_id=uid, phone=data["phone"], currency=receive, country=account.country, now=at
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="phone")
        return _send_page(request, form)
    wallet = next(w for w in wallets if w.wallet.currency == code)
    if receive != code:
        return _send_fx(request, form, recipient, wallet, at)
    try:
        quote = fee_quote(kind=TransferKind.P2P, amount=Money.of(form.amount_minor, code), now=at)
    except DomainError as exc:
        apply_errors(form, exc, default_field=None)
        return _send_page(request, form)
    total = form.amount_minor + quote.fee.amount
    if total > wallet.available:
        _short(form, wallet, total, money_text(quote.fee.amount, code))
        return _send_page(request, form)
    review = Review(
        recipient=recipient,
        amount=money_text(form.amount_minor, code),
        fee=money_text(quote.fee.amount, code),
        fee_zero=quote.fee.amount == 0,
        total=money_text(total, code),
        available=money_text(wallet.available, code),
    )
    hidden = [(name, str(data.get(name) or "")) for name in SEND_FIELDS]
    if "confirm" not in request.POST:
        return _send_page(request, form, review=review, hidden=hidden)

    def pay(proof: StepUpProof | None) -> Transfer:
        outcome = transfer_create_with_step_up(
            client_id=uid,
            idempotency_key=str(data["key"]),
            request=TransferRequest(
                source_wallet_id=wallet.wallet.id,
                destination_wallet_id=recipient.wallet_id,
                amount=form.amount_minor,
                currency=code,
                description=str(data.get("description") or ""),
            ),
            interactive=True,
            proof=proof,
            now=now(),
        )
        return outcome.transfer

    return _confirm(request, form, pay, review=review, hidden=hidden)


def _short(form: SendForm, wallet: WalletView, total: int, fee: str) -> None:
    code = wallet.wallet.currency
    form.add_error(
        "amount",
        _(
            "Your %(currency)s wallet has %(available)s available; this needs %(total)s "
            "including the fee of %(fee)s."
        )
        % {
            "currency": code,
            "available": money_text(wallet.available, code),
            "total": money_text(total, code),
            "fee": fee,
        },
    )


def _confirm(
    request: HttpRequest,
    form: SendForm,
    pay: Callable[[StepUpProof | None], Transfer],
    **review: Any,
) -> HttpResponse:
    """The confirm step of either kind of send: the SMS code when the step-up rules ask
    for it, a refusal on the form (a new key: the next submit is a new attempt), else the
    payment's page."""
    data = form.cleaned_data
    proof = None
    if data.get("challenge") and data.get("code"):
        proof = StepUpProof(challenge_id=str(data["challenge"]), code=str(data["code"]))
    try:
        transfer = pay(proof)
    except StepUpRequired as exc:
        challenge = str(exc.details.get("challenge_id", ""))
        return _send_page(request, form, step_up=True, challenge=challenge, **review)
    except IdempotencyConflict:
        form.add_error(
            None,
            _(
                "This form was already sent with other details. Check your history before you "
                "try again."
            ),
        )
        _fresh_key(form)
        return _send_page(request, form)
    except (StepUpRejected, TooManyAttempts) as exc:
        form.add_error("code", exc.message[:1].upper() + exc.message[1:])
        challenge = str(data.get("challenge") or "")
        return _send_page(request, form, step_up=True, challenge=challenge, **review)
    except DomainError as exc:
        code = str(getattr(exc, "code", ""))
        if code in ("quote_expired", "quote_used", "quote_mismatch"):
            form.add_error(None, exc.message)
            return _send_page(request, form, expired=True)
        message = exc.message[:1].upper() + exc.message[1:]
        if isinstance(exc, PaymentRefused):
            message = _("The payment was refused and no money moved: %(reason)s") % {
                "reason": refusal_text(exc.code, exc.message)
            }
        form.add_error(None, message)
        _fresh_key(form)
        return _send_page(request, form)
    if transfer.status == TransferStatus.FAILED:
        form.add_error(
            None,
            _("The payment was refused and no money moved: %(reason)s")
            % {"reason": refusal_text(transfer.failure_code, transfer.failure_message)},
        )
        _fresh_key(form)
        return _send_page(request, form, refused_link=f"{HISTORY}{transfer.id}/")
    return HttpResponseRedirect(f"{HISTORY}{transfer.id}/")


@dataclass(frozen=True)
class FxReview:
    recipient: Recipient
    amount: str  # what they receive
    fee: str  # the P2P fee, in their currency
    fee_zero: bool
    rate: str
    total: str  # what leaves the payer's wallet, in its currency
    available: str
    expires_at: Any
    seconds: int


def _rate_text(rate: Decimal, send: str, receive: str) -> str:
    """ "1 UGX = 0.000267594327 USD (1 USD = 3,737.00 UGX)": the quote's rate both ways."""
    text = f"1 {send} = {format(rate.normalize(), 'f')} {receive}"
    if rate > 0:
        inverse = (Decimal(1) / rate).quantize(Decimal("0.01"))
        text += f" (1 {receive} = {inverse:,} {send})"
    return text


def _send_fx(
    request: HttpRequest, form: SendForm, recipient: Recipient, wallet: WalletView, at: Any
) -> HttpResponse:
    """Cross-currency: a quote (amount + P2P fee in their currency) shown with its rate
    and expiry; confirm sends at that quote (``fx_send``) while it holds."""
    data = form.cleaned_data
    uid = _uid(request)
    code, receive = wallet.wallet.currency, recipient.currency
    try:
        if "confirm" in request.POST and data.get("quote"):
            quote = fx_quote_get(customer_id=uid, quote_id=data["quote"])
            fee = fee_quote(
                kind=TransferKind.P2P, amount=Money.of(form.amount_minor, receive), now=at
            )
        else:
            price = fx_send_quote(
                client_id=uid,
                send_currency=code,
                receive_currency=receive,
                amount=form.amount_minor,
                now=at,
            )
            quote, fee = price.quote, price.fee
    except DomainError as exc:
        apply_errors(form, exc, default_field=None)
        return _send_page(request, form)
    if quote.send_currency != code or quote.receive_currency != receive:
        form.add_error(None, _("This price is for other currencies. Get a new price."))
        return _send_page(request, form, expired=True)
    if quote.send_amount > wallet.available:
        _short(form, wallet, quote.send_amount, money_text(fee.fee.amount, code))
        return _send_page(request, form)
    review = FxReview(
        recipient=recipient,
        amount=money_text(form.amount_minor, receive),
        fee=money_text(fee.fee.amount, code),
        fee_zero=fee.fee.amount == 0,
        rate=_rate_text(quote.rate, code, receive),
        total=money_text(quote.send_amount, code),
        available=money_text(wallet.available, code),
        expires_at=quote.expires_at,
        seconds=max(int((quote.expires_at - at).total_seconds()), 0),
    )
    hidden = [(name, str(data.get(name) or "")) for name in SEND_FIELDS]
    hidden.append(("quote", str(quote.id)))
    if "confirm" not in request.POST:
        return _send_page(request, form, fx_review=review, hidden=hidden)

    def pay(proof: StepUpProof | None) -> Transfer:
        return fx_send(
            client_id=uid,
            idempotency_key=str(data["key"]),
            quote_id=quote.id,
            destination_wallet_id=recipient.wallet_id,
            amount=form.amount_minor,
            description=str(data.get("description") or ""),
            proof=proof,
            now=now(),
        )

    return _confirm(request, form, pay, fx_review=review, hidden=hidden)


# --- history -------------------------------------------------------------------------------------


class HistoryForm(AccessibleForm):
    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("A reference, a phone number or words from the description."),
        widget=forms.TextInput(attrs=_attrs(type="search", autocomplete="off")),
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        required=False,
        choices=[("", gettext_lazy("All kinds")), *((k, KIND_LABELS[k]) for k in KINDS)],
        widget=forms.Select(attrs=_attrs()),
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any status")), *((s, STATE_LABELS[s]) for s in STATUSES)],
        widget=forms.Select(attrs=_attrs()),
    )
    direction = forms.ChoiceField(
        label=gettext_lazy("Direction"),
        required=False,
        choices=[("", gettext_lazy("In and out")), *((d, DIRECTION_LABELS[d]) for d in DIRECTIONS)],
        widget=forms.Select(attrs=_attrs()),
    )
    currency = forms.ChoiceField(
        label=gettext_lazy("Wallet"), required=False, widget=forms.Select(attrs=_attrs())
    )
    date_from = forms.CharField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs=_attrs(type="date")),
    )
    date_to = forms.CharField(
        label=gettext_lazy("To"),
        required=False,
        widget=forms.DateInput(attrs=_attrs(type="date")),
    )

    def __init__(self, data: Any = None, *, currencies: list[str], **kw: Any):
        super().__init__(data, **kw)
        self.fields["currency"].choices = [  # type: ignore[attr-defined]
            ("", _("All wallets")),
            *((c, c) for c in currencies),
        ]


FILTER_FIELDS = ("q", "kind", "status", "direction", "currency", "date_from", "date_to")


@never_cache
@require_GET
@requires("self.transfer")
def history(request: HttpRequest) -> HttpResponse:
    uid = _uid(request)
    currencies = [w.wallet.currency for w in wallet_list(owner_id=uid)]
    raw = {name: request.GET.get(name, "")[:200] for name in FILTER_FIELDS}
    form = HistoryForm(raw, currencies=currencies)
    valid = form.is_valid()  # the choices: a kind, status or wallet not in the lists
    context: dict[str, Any] = {"form": form, "rows": [], "next_link": "", "searched_to": None}
    try:
        filters = history_filter_clean(**raw)
        before = position_decode(request.GET.get("before", "")[:80])
    except DomainError as exc:
        apply_errors(form, exc, default_field=None)
        valid = False
    if not valid:
        return render(request, "panels/customer/money/history.html", context, status=400)
    country = registration.account_overview(user_id=uid).country
    page = history_page(customer_id=uid, filters=filters, before=before, country=country)
    context["rows"] = [row_view(r, uid) for r in page.rows]
    context["filtered"] = filters.active()
    context["first_page"] = before is None
    if page.next_before:
        query = request.GET.copy()
        query["before"] = page.next_before
        context["next_link"] = f"{HISTORY}?{query.urlencode()}"
    context["searched_to"] = page.searched_to
    return render(request, "panels/customer/money/history.html", context)


def _detail_or_none(request: HttpRequest, transfer_id: uuid.UUID) -> PaymentDetail | None:
    try:
        return payment_detail(customer_id=_uid(request), transfer_id=transfer_id)
    except NotFound:
        return None


def detail_fields(detail: PaymentDetail, view: RowView) -> list[tuple[str, str]]:
    """The detail page's facts, as (label, text): the page and the receipt show the same."""
    t = detail.transfer
    code = t.currency
    fields: list[tuple[str, str]] = [
        (_("What"), view.label),
        (_("Status"), view.state_label),
        (_("Date"), t.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        (_("Amount"), money_text(t.amount, code)),
    ]
    if detail.show_fee:
        fee = money_text(t.fee, code) if t.fee else _("No fee")
        fields.append((_("Fee"), fee))
    if detail.wallet_change:
        label = (
            _("Added to your wallet") if detail.wallet_change > 0 else _("Taken from your wallet")
        )
        fields.append((label, money_text(abs(detail.wallet_change), code)))
    if detail.row.receive_currency:
        fields.append(
            (_("Received"), money_text(detail.row.receive_amount, detail.row.receive_currency))
        )
    if detail.rate is not None:
        rate = format(detail.rate.normalize(), "f")
        fields.append((_("Exchange rate"), f"1 {code} = {rate} {detail.row.receive_currency}"))
    if view.counterparty:
        label = _("From") if view.incoming else _("To")
        fields.append((label, view.counterparty))
    if t.description:
        fields.append((_("Description"), t.description))
    if detail.failure:
        why = refusal_text(t.failure_code, detail.failure)
        fields.append((_("Why"), why[:1].upper() + why[1:]))
    fields.append((_("LightWay reference"), str(t.id)))
    momo = detail.row.momo
    if momo is not None:
        fields.append((_("MTN MoMo reference"), str(momo.reference_id)))
        if momo.financial_transaction_id:
            fields.append((_("MTN MoMo transaction id"), momo.financial_transaction_id))
    return fields


@never_cache
@require_GET
@requires("self.transfer")
def history_detail(request: HttpRequest, transfer_id: uuid.UUID) -> HttpResponse:
    detail = _detail_or_none(request, transfer_id)
    if detail is None:
        return render(request, "panels/customer/money/not_found.html", status=404)
    view = row_view(detail.row, _uid(request))
    timeline = [
        {"at": step.at, "label": TIMELINE_LABELS.get(step.status, step.status)}
        for step in detail.timeline
    ]
    return render(
        request,
        "panels/customer/money/detail.html",
        {
            "row": view,
            "fields": detail_fields(detail, view),
            "timeline": timeline,
            "momo_link": (
                f"/app/momo/transfers/{detail.transfer.id}/"
                if detail.row.momo is not None and detail.transfer.client_id == _uid(request)
                else ""
            ),
        },
    )


@never_cache
@require_GET
@requires("self.transfer")
def history_receipt(request: HttpRequest, transfer_id: uuid.UUID) -> HttpResponse:
    detail = _detail_or_none(request, transfer_id)
    if detail is None:
        return render(request, "panels/customer/money/not_found.html", status=404)
    view = row_view(detail.row, _uid(request))
    out = io.BytesIO()
    receipt_pdf(
        detail,
        out,
        fields=detail_fields(detail, view),
        title=_("LightWay payment receipt"),
        now=now(),
    )
    response = HttpResponse(out.getvalue(), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="lightway-receipt-{transfer_id}.pdf"'
    return response


# --- statements ----------------------------------------------------------------------------------


class StatementForm(AccessibleForm):
    wallet = forms.ChoiceField(
        label=gettext_lazy("Wallet"),
        error_messages={
            "required": gettext_lazy("Choose a wallet."),
            "invalid_choice": gettext_lazy("Choose one of your wallets."),
        },
        widget=forms.Select(attrs=_attrs()),
    )
    month = forms.CharField(
        label=gettext_lazy("Month"),
        max_length=7,
        help_text=gettext_lazy("As YYYY-MM, for example 2026-03."),
        error_messages={"required": gettext_lazy("Enter a month.")},
        widget=forms.TextInput(attrs=_attrs(type="month", autocomplete="off")),
    )
    format = forms.ChoiceField(
        label=gettext_lazy("File"),
        choices=[("pdf", "PDF"), ("csv", "CSV")],
        initial="pdf",
        widget=forms.Select(attrs=_attrs()),
    )

    def __init__(self, data: Any = None, *, wallets: list[tuple[str, str]], **kw: Any):
        super().__init__(data, **kw)
        self.fields["wallet"].choices = wallets  # type: ignore[attr-defined]

    def clean_month(self) -> date:
        text = str(self.cleaned_data.get("month") or "").strip()
        try:
            year, month = (int(part) for part in text.split("-"))
            return date(year, month, 1)
        except ValueError:
            raise forms.ValidationError(
                _("Enter the month as YYYY-MM, for example 2026-03.")
            ) from None


@never_cache
@require_GET
@requires("self.wallets")
def statements(request: HttpRequest) -> HttpResponse:
    uid = _uid(request)
    choices = statement_choices(owner_id=uid, now=now())
    wallets = [(str(c.wallet_id), c.currency) for c in choices]
    if "month" not in request.GET:
        form = StatementForm(
            wallets=wallets,
            initial={
                "wallet": wallets[0][0] if wallets else "",
                "month": f"{now():%Y-%m}",
                "format": "pdf",
            },
        )
        return render(
            request, "panels/customer/money/statements.html", {"form": form, "choices": choices}
        )
    form = StatementForm(request.GET, wallets=wallets)
    if form.is_valid():
        data = form.cleaned_data
        try:
            statement = wallet_statement_month(
                owner_id=uid, wallet_id=uuid.UUID(data["wallet"]), month=data["month"], now=now()
            )
        except DomainError as exc:
            apply_errors(form, exc, default_field="month")
        else:
            name = f"lightway-statement-{statement.currency}-{statement.month:%Y-%m}"
            if data["format"] == "csv":
                response = HttpResponse(
                    statement_csv(statement), content_type="text/csv; charset=utf-8"
                )
                response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
                return response
            out = io.BytesIO()
            statement_pdf(statement, out)
            response = HttpResponse(out.getvalue(), content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
            return response
    return render(
        request,
        "panels/customer/money/statements.html",
        {"form": form, "choices": choices},
        status=400,
    )
