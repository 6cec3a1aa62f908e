"""Panel forms: field shapes and "required" only; the rules live in the application layer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from lightway.application.identity.phones import MARKETS
from lightway.application.onboarding.registration import ID_TYPES, LANGUAGES
from lightway.application.reasons import MAX_REASON_LENGTH, MIN_REASON_LENGTH

# Customer-facing labels and messages are translated (docs/panels.md, "Languages");
# the staff forms further down stay English.
COUNTRY_NAMES = {
    "UG": _("Uganda (+256)"),
    "GH": _("Ghana (+233)"),
    "RW": _("Rwanda (+250)"),
    "ZM": _("Zambia (+260)"),
    "CI": _("Côte d'Ivoire (+225)"),
    "CM": _("Cameroon (+237)"),
}
COUNTRIES = [(code, COUNTRY_NAMES.get(code, code)) for code in MARKETS]


def _attrs(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class AccessibleForm(forms.Form):
    """Fields with errors say so to assistive technology: ``aria-invalid`` and
    ``aria-describedby`` pointing at the error message (and the hint, if any)."""

    def full_clean(self) -> None:
        super().full_clean()
        self.mark_errors()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self.mark_errors()

    def mark_errors(self) -> None:
        for name, field in self.fields.items():
            if name not in self.errors:
                continue
            bound = self[name]
            ids = [f"{bound.auto_id}_error"]
            if field.help_text:
                ids.append(f"{bound.auto_id}_helptext")
            field.widget.attrs["aria-invalid"] = "true"
            field.widget.attrs["aria-describedby"] = " ".join(ids)


class SharedPageForm(AccessibleForm):
    """A form that shares a page with another form holding a field of the same name: its
    fields' element ids follow ``id_format``, so every label (and error summary link)
    points at its own field."""

    id_format = "id_%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", self.id_format)
        super().__init__(*args, **kwargs)


def reason_field(*, why: str, attrs: dict[str, str] | None = None) -> forms.CharField:
    """The reason staff give for a sensitive step (checked again by
    ``application.reasons.reason_clean``), which the audit trail keeps."""
    return forms.CharField(
        label="Reason",
        help_text=f"At least {MIN_REASON_LENGTH} characters: the ticket and {why}. "
        "It is written to the audit trail.",
        min_length=MIN_REASON_LENGTH,
        max_length=MAX_REASON_LENGTH,
        widget=forms.TextInput(attrs={**(attrs or {}), "autocomplete": "off"}),
    )


def _country_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Country"), choices=COUNTRIES, widget=forms.Select(attrs=_attrs())
    )


def _phone_field(**attrs: str) -> forms.CharField:
    return forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        error_messages={"required": _("Enter your mobile number.")},
        widget=forms.TextInput(attrs=_attrs(autocomplete="tel", inputmode="tel", **attrs)),
    )


def _password_field(
    label: Any, required: Any, *, autocomplete: str, help_text: Any = ""
) -> forms.CharField:
    """A password input (never stripped); ``autocomplete`` is ``current-password`` or
    ``new-password`` so password managers fill or suggest the right one."""
    return forms.CharField(
        label=label,
        max_length=256,
        strip=False,
        help_text=help_text,
        error_messages={"required": required},
        widget=forms.PasswordInput(attrs=_attrs(autocomplete=autocomplete)),
    )


def _code_field(label: Any, required: Any, **attrs: str) -> forms.CharField:
    """A one-time code input (SMS, authenticator app or backup code)."""
    return forms.CharField(
        label=label,
        max_length=20,
        error_messages={"required": required},
        widget=forms.TextInput(attrs=_attrs(autocomplete="one-time-code", **attrs)),
    )


NEW_PASSWORD_HINT = _("At least 10 characters. Avoid common passwords.")


class RegisterForm(AccessibleForm):
    country = _country_field()
    phone = _phone_field(placeholder="0772 123 456")
    password = _password_field(
        _("Password"),
        _("Choose a password."),
        autocomplete="new-password",
        help_text=NEW_PASSWORD_HINT,
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=list(LANGUAGES.items()),
        initial="en",
        widget=forms.Select(attrs=_attrs()),
    )
    accept_terms = forms.BooleanField(
        label=_("I accept the terms of service and the privacy notice"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "check"}),
    )


class CodeForm(AccessibleForm):
    code = _code_field(_("Code"), _("Enter the code."), inputmode="numeric", autofocus="autofocus")


class TotpCodeForm(AccessibleForm):
    code = _code_field(
        _("6-digit code from your authenticator app"),
        _("Enter the 6-digit code your app shows."),
        inputmode="numeric",
        autofocus="autofocus",
    )


class SecondFactorForm(AccessibleForm):
    code = _code_field(
        _("Code from your authenticator app, or a backup code"),
        _("Enter a code."),
        autofocus="autofocus",
        spellcheck="false",
    )


class LoginForm(AccessibleForm):
    country = _country_field()
    phone = _phone_field()
    password = _password_field(
        _("Password"), _("Enter your password."), autocomplete="current-password"
    )


class StaffLoginForm(AccessibleForm):
    username = forms.CharField(
        label="Username",
        max_length=150,
        error_messages={"required": "Enter your username."},
        widget=forms.TextInput(attrs=_attrs(autocomplete="username", autofocus="autofocus")),
    )
    password = _password_field("Password", "Enter your password.", autocomplete="current-password")


class ProfileForm(AccessibleForm):
    name = forms.CharField(
        label=_("Full name (as on your ID)"),
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs=_attrs(autocomplete="name")),
    )
    birth_date = forms.CharField(
        label=_("Date of birth"),
        required=False,
        widget=forms.DateInput(attrs=_attrs(type="date", autocomplete="bday")),
    )
    id_type = forms.ChoiceField(
        label=_("ID document"),
        required=False,
        choices=[("", pgettext_lazy("a choice in a list", "Choose…"))]
        + [(key, _(label)) for key, label in ID_TYPES.items()],  # marked in ID_TYPES
        widget=forms.Select(attrs=_attrs()),
    )
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs=_attrs(autocomplete="off", spellcheck="false")),
    )


class EmailForm(AccessibleForm):
    email = forms.CharField(
        label=_("Email address"),
        max_length=254,
        error_messages={"required": _("Enter your email address.")},
        widget=forms.EmailInput(attrs=_attrs(autocomplete="email")),
    )


class PasswordChangeForm(AccessibleForm):
    old_password = _password_field(
        _("Current password"), _("Enter your current password."), autocomplete="current-password"
    )
    new_password = _password_field(
        _("New password"),
        _("Choose a new password."),
        autocomplete="new-password",
        help_text=NEW_PASSWORD_HINT,
    )


class PasskeyNameForm(AccessibleForm):
    name = forms.CharField(
        label="Name for this passkey",
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs=_attrs(placeholder="e.g. Work laptop")),
    )


class PasswordForgotForm(AccessibleForm):
    country = _country_field()
    phone = _phone_field()


class PasswordResetForm(AccessibleForm):
    code = _code_field(
        _("Code from the SMS"), _("Enter the code we sent you."), inputmode="numeric"
    )
    new_password = _password_field(
        _("New password"),
        _("Choose a new password."),
        autocomplete="new-password",
        help_text=NEW_PASSWORD_HINT,
    )
