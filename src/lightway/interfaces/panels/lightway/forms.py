"""Forms of the staff administration and customer pages (shapes only; rules are in the
application layer)."""

from __future__ import annotations

from django import forms

from lightway.application.identity.phones import MARKETS
from lightway.application.identity.pii import REVEALABLE
from lightway.data.identity.models import ContactRole, KycTier, PartnerStatus, Realm
from lightway.data.money import CURRENCY_CODES
from lightway.interfaces.panels.forms import (
    COUNTRIES,
    AccessibleForm,
    SharedPageForm,
    reason_field,
)
from lightway.security.policy import (
    INTEGRATION_REALMS,
    INTEGRATION_SCOPES,
    ROLE_REALM,
    STAFF_REALMS,
    Action,
    Role,
)

STAFF_ROLE_CHOICES = [(r.value, r.label) for r in Role if ROLE_REALM[r.value] in STAFF_REALMS]
REALM_CHOICES = [(r.value, r.label) for r in Realm if r.value in STAFF_REALMS]
FIELD_LABELS = {
    "phone": "Phone number",
    "email": "Email address",
    "name": "Name",
    "id_number": "ID number",
    "birth_date": "Date of birth",
}


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class StaffCreateForm(AccessibleForm):
    username = forms.CharField(
        max_length=40, widget=forms.TextInput(attrs=_input(autocomplete="off"))
    )
    realm = forms.ChoiceField(choices=REALM_CHOICES, widget=forms.Select(attrs=_input()))
    roles = forms.MultipleChoiceField(
        choices=STAFF_ROLE_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )
    email = forms.EmailField(
        required=False, widget=forms.EmailInput(attrs=_input(autocomplete="off"))
    )
    name = forms.CharField(
        required=False, max_length=120, widget=forms.TextInput(attrs=_input(autocomplete="off"))
    )


class RoleChangeForm(AccessibleForm):
    user_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    role = forms.ChoiceField(choices=STAFF_ROLE_CHOICES, widget=forms.Select(attrs=_input()))


class StaffDeactivateForm(AccessibleForm):
    user_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class MfaResetRequestForm(AccessibleForm):
    user_id = forms.IntegerField(min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Reason (the ticket and why)",
        min_length=10,
        max_length=500,
        error_messages={
            "required": "Give a reason of at least 10 characters (the ticket and why).",
            "min_length": "Give a reason of at least 10 characters (the ticket and why).",
        },
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )


class CustomerSearchForm(AccessibleForm):
    q = forms.CharField(
        label="Phone number, email, ID number or subject",
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs=_input(autocomplete="off", inputmode="search")),
    )
    country = forms.ChoiceField(
        label="Country (for a national phone number)",
        choices=[("", "Any"), *COUNTRIES],
        required=False,
        widget=forms.Select(attrs=_input()),
    )


class RevealForm(AccessibleForm):
    fields_wanted = forms.MultipleChoiceField(
        label="Fields to reveal",
        choices=[(f, FIELD_LABELS[f]) for f in REVEALABLE],
        widget=forms.CheckboxSelectMultiple,
    )
    reason = reason_field(why="why you need it", attrs=_input())


class TierForm(AccessibleForm):
    tier = forms.TypedChoiceField(
        label="KYC tier",
        coerce=int,
        choices=[(t.value, f"{t.value}: {t.label}") for t in KycTier],
        widget=forms.Select(attrs=_input()),
    )
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        min_length=3,
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )


class IntegrationKeyCreateForm(AccessibleForm):
    """A new integration key (the rules, the longest validity included, are checked again
    by ``application.integrations.keys``)."""

    realm = forms.ChoiceField(
        label="Whose system",
        choices=[(r.value, r.label) for r in Realm if r.value in INTEGRATION_REALMS],
        widget=forms.Select(attrs=_input()),
    )
    name = forms.CharField(
        label="Name (which system uses the key)",
        min_length=3,
        max_length=80,
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(a.value, f"{a.value}: {a.label}") for a in Action if a in INTEGRATION_SCOPES],
        widget=forms.CheckboxSelectMultiple,
    )
    days = forms.IntegerField(
        label="Valid for (days)",
        min_value=1,
        max_value=10_000,
        widget=forms.NumberInput(attrs=_input(inputmode="numeric")),
    )
    reason = reason_field(why="which system needs the key and why", attrs=_input())


class FxRateProposeForm(AccessibleForm):
    """A treasury rate: 1 base = mid quote, with a spread in basis points, or a bid and an
    ask (the rules, and which combination is allowed, are in ``application.fx.ratebook``)."""

    base = forms.ChoiceField(choices=[], widget=forms.Select(attrs=_input()))
    quote = forms.ChoiceField(choices=[], widget=forms.Select(attrs=_input()))
    mid = forms.CharField(
        required=False, max_length=40, widget=forms.TextInput(attrs=_input(inputmode="decimal"))
    )
    spread_bps = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=5000,
        label="Spread (basis points each side)",
        widget=forms.NumberInput(attrs=_input()),
    )
    bid = forms.CharField(
        required=False, max_length=40, widget=forms.TextInput(attrs=_input(inputmode="decimal"))
    )
    ask = forms.CharField(
        required=False, max_length=40, widget=forms.TextInput(attrs=_input(inputmode="decimal"))
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        from lightway.data.money import CURRENCY_CODES

        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        choices = [(c, c) for c in sorted(CURRENCY_CODES)]
        self.fields["base"].choices = choices  # type: ignore[attr-defined]
        self.fields["quote"].choices = choices  # type: ignore[attr-defined]


class FxDecisionForm(AccessibleForm):
    rate_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


# --- partners (/staff/partners/) ------------------------------------------------------------

MARKET_CHOICES = [(code, f"{code} ({currency})") for code, currency in MARKETS.items()]
CURRENCY_CHOICES = [(code, code) for code in CURRENCY_CODES]
CONTACT_ROLE_CHOICES = [(r.value, r.label) for r in ContactRole]
STATUS_CHOICES = [(s.value, s.label) for s in PartnerStatus]


class PartnerForm(AccessibleForm):
    """A partner's company details (every rule is checked by
    ``application.partners.onboarding``; errors come back beside their fields)."""

    code = forms.CharField(
        label="Code (names its accounts; cannot change)",
        max_length=40,
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )
    name = forms.CharField(
        label="Trading name", max_length=120, widget=forms.TextInput(attrs=_input())
    )
    legal_name = forms.CharField(
        label="Legal name", max_length=200, widget=forms.TextInput(attrs=_input())
    )
    registration_number = forms.CharField(
        label="Company registration number", max_length=64, widget=forms.TextInput(attrs=_input())
    )
    country = forms.CharField(
        label="Country of registration (ISO 3166, e.g. GB)",
        max_length=2,
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )
    address = forms.CharField(
        label="Registered address", max_length=300, widget=forms.TextInput(attrs=_input())
    )
    markets = forms.MultipleChoiceField(
        label="Markets (destination countries)",
        choices=MARKET_CHOICES,
        widget=forms.CheckboxSelectMultiple,
    )
    currencies = forms.MultipleChoiceField(
        label="Currencies (a prefund account each)",
        choices=CURRENCY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
    )
    webhook_url = forms.CharField(
        label="Webhook URL (https://)",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs=_input(autocomplete="off", inputmode="url")),
    )


class ContactForm(AccessibleForm):
    contact_role = forms.ChoiceField(
        label="Contact's role", choices=CONTACT_ROLE_CHOICES, widget=forms.Select(attrs=_input())
    )
    contact_name = forms.CharField(
        label="Contact's name", max_length=120, widget=forms.TextInput(attrs=_input())
    )
    contact_email = forms.CharField(
        label="Contact's email", max_length=254, widget=forms.TextInput(attrs=_input())
    )
    contact_phone = forms.CharField(
        label="Contact's phone (+<country code>...)",
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs=_input(inputmode="tel")),
    )


class PartnerOnboardForm(PartnerForm, ContactForm):
    """Onboarding: the company and its first contact."""


class PartnerStatusForm(SharedPageForm):
    id_format = "status_%s"  # the partner's page has three reasons
    id_format = "status_%s"  # the partner's page has three reasons
    status = forms.ChoiceField(
        label="New status", choices=STATUS_CHOICES, widget=forms.Select(attrs=_input())
    )
    reason = reason_field(why="why the partner's status changes", attrs=_input())


class WebhookRotateForm(AccessibleForm):
    overlap_hours = forms.IntegerField(
        label="Old secret keeps signing for (hours)",
        min_value=0,
        max_value=720,
        initial=24,
        widget=forms.NumberInput(attrs=_input(inputmode="numeric")),
    )


class RedeliverForm(SharedPageForm):
    id_format = "redeliver_%s"
    id_format = "redeliver_%s"
    event_id = forms.UUIDField(
        label="Event id", widget=forms.TextInput(attrs=_input(autocomplete="off"))
    )
    reason = reason_field(why="why the event is sent again", attrs=_input())


class RedeliverDeadForm(SharedPageForm):
    id_format = "redeliver_dead_%s"
    id_format = "redeliver_dead_%s"
    reason = reason_field(why="why the dead-lettered events are sent again", attrs=_input())
