"""Forms of the back office's customer and transaction pages (shapes only; the rules are
in ``application/backoffice``)."""

from __future__ import annotations

from typing import Any

from django import forms

from lightway.data.backoffice.models import NOTE_MAX, ActionKind
from lightway.data.money import CURRENCY_CODES
from lightway.data.wallets.models import TransferKind, TransferStatus
from lightway.interfaces.panels.forms import AccessibleForm, SharedPageForm, reason_field


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class SupportNoteForm(AccessibleForm):
    body = forms.CharField(
        label="Note",
        help_text="What happened and what you did. Notes cannot be changed or deleted.",
        min_length=3,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs=_input(rows="3")),
    )


class CustomerActionForm(AccessibleForm):
    kind = forms.ChoiceField(
        label="Action",
        choices=[
            (k.value, k.label)
            for k in (ActionKind.WALLETS_FREEZE, ActionKind.WALLETS_UNFREEZE, ActionKind.MFA_RESET)
        ],
        widget=forms.Select(attrs=_input()),
    )
    reason = reason_field(why="why", attrs=_input())


class TransferActionForm(AccessibleForm):
    kind = forms.ChoiceField(
        label="Action",
        choices=[
            (k.value, k.label) for k in (ActionKind.TRANSFER_RETRY, ActionKind.TRANSFER_REVERSE)
        ],
        widget=forms.Select(attrs=_input()),
    )
    reason = reason_field(why="why", attrs=_input())


class DecisionForm(AccessibleForm):
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )


def _choices(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", "Any"), *pairs]


class TransactionFilterForm(AccessibleForm):
    q = forms.CharField(
        label="Reference",
        help_text="A payment id, MoMo reference or financial transaction id, a remittance id,"
        " <partner code>/<external id> or <customer subject>/<Idempotency-Key>.",
        required=False,
        max_length=250,
        widget=forms.TextInput(attrs=_input(autocomplete="off", inputmode="search")),
    )
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=_choices(list(TransferKind.choices)),
        widget=forms.Select(attrs=_input()),
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=_choices(list(TransferStatus.choices)),
        widget=forms.Select(attrs=_input()),
    )
    currency = forms.ChoiceField(
        label="Currency",
        required=False,
        choices=_choices([(c, c) for c in sorted(CURRENCY_CODES)]),
        widget=forms.Select(attrs=_input()),
    )
    date_from = forms.DateField(
        label="From (UTC day)",
        required=False,
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label="To (UTC day)",
        required=False,
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The last day comes on or after the first.")
        return data


def _limit_field(label: str, *, help_text: str = "Blank: the tier's limit.") -> forms.CharField:
    """An optional limit amount as typed (``application/backoffice/limits.py`` parses it)."""
    return forms.CharField(
        label=label,
        required=False,
        max_length=32,
        help_text=help_text,
        widget=forms.TextInput(attrs=_input(inputmode="decimal", autocomplete="off")),
    )


class LimitOverrideForm(SharedPageForm):
    """A limit override for one of the customer's currencies (``application/backoffice/
    limits.py`` parses the amounts and decides)."""

    id_format = "limits_%s"

    currency = forms.ChoiceField(label="Currency", widget=forms.Select(attrs=_input()))
    per_transaction = _limit_field(
        "Per payment", help_text="In the currency's units, e.g. 8000000. Blank: the tier's limit."
    )
    daily = _limit_field("Per day")
    monthly = _limit_field("Per month")
    max_balance = _limit_field("Maximum balance")
    last_day = forms.DateField(
        label="Last day (UTC, optional)",
        required=False,
        help_text="The override ends at the end of this day. Blank: until replaced.",
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
    )
    reason = reason_field(why="why the customer needs other limits", attrs=_input())

    def __init__(self, *args: Any, currencies: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in currencies or []]  # type: ignore[attr-defined]
