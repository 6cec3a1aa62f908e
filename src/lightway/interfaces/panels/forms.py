"""Panel forms: field shapes and "required" only; the rules live in the application layer."""

from __future__ import annotations

from typing import Any

from django import forms

from lightway.application.users.phones import MARKETS
from lightway.application.users.registration import ID_TYPES, LANGUAGES

COUNTRY_NAMES = {
    "UG": "Uganda (+256)",
    "GH": "Ghana (+233)",
    "RW": "Rwanda (+250)",
    "ZM": "Zambia (+260)",
    "CI": "Côte d'Ivoire (+225)",
    "CM": "Cameroon (+237)",
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


class RegisterForm(AccessibleForm):
    country = forms.ChoiceField(
        label="Country", choices=COUNTRIES, widget=forms.Select(attrs=_attrs())
    )
    phone = forms.CharField(
        label="Mobile number",
        max_length=32,
        error_messages={"required": "Enter your mobile number."},
        widget=forms.TextInput(
            attrs=_attrs(autocomplete="tel", inputmode="tel", placeholder="0772 123 456")
        ),
    )
    password = forms.CharField(
        label="Password",
        max_length=256,
        strip=False,
        help_text="At least 10 characters. Avoid common passwords.",
        error_messages={"required": "Choose a password."},
        widget=forms.PasswordInput(attrs=_attrs(autocomplete="new-password")),
    )
    language = forms.ChoiceField(
        label="Language",
        choices=list(LANGUAGES.items()),
        initial="en",
        widget=forms.Select(attrs=_attrs()),
    )
    accept_terms = forms.BooleanField(
        label="I accept the terms of service and the privacy notice",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "check"}),
    )


class CodeForm(AccessibleForm):
    code = forms.CharField(
        label="Code",
        max_length=20,
        error_messages={"required": "Enter the code."},
        widget=forms.TextInput(
            attrs=_attrs(autocomplete="one-time-code", inputmode="numeric", autofocus="autofocus")
        ),
    )


class TotpCodeForm(AccessibleForm):
    code = forms.CharField(
        label="6-digit code from your authenticator app",
        max_length=20,
        error_messages={"required": "Enter the 6-digit code your app shows."},
        widget=forms.TextInput(
            attrs=_attrs(autocomplete="one-time-code", inputmode="numeric", autofocus="autofocus")
        ),
    )


class SecondFactorForm(AccessibleForm):
    code = forms.CharField(
        label="Code from your authenticator app, or a backup code",
        max_length=20,
        error_messages={"required": "Enter a code."},
        widget=forms.TextInput(
            attrs=_attrs(autocomplete="one-time-code", autofocus="autofocus", spellcheck="false")
        ),
    )


class LoginForm(AccessibleForm):
    country = forms.ChoiceField(
        label="Country", choices=COUNTRIES, widget=forms.Select(attrs=_attrs())
    )
    phone = forms.CharField(
        label="Mobile number",
        max_length=32,
        error_messages={"required": "Enter your mobile number."},
        widget=forms.TextInput(attrs=_attrs(autocomplete="tel", inputmode="tel")),
    )
    password = forms.CharField(
        label="Password",
        max_length=256,
        strip=False,
        error_messages={"required": "Enter your password."},
        widget=forms.PasswordInput(attrs=_attrs(autocomplete="current-password")),
    )


class StaffLoginForm(AccessibleForm):
    username = forms.CharField(
        label="Username",
        max_length=150,
        error_messages={"required": "Enter your username."},
        widget=forms.TextInput(attrs=_attrs(autocomplete="username", autofocus="autofocus")),
    )
    password = forms.CharField(
        label="Password",
        max_length=256,
        strip=False,
        error_messages={"required": "Enter your password."},
        widget=forms.PasswordInput(attrs=_attrs(autocomplete="current-password")),
    )


class ProfileForm(AccessibleForm):
    name = forms.CharField(
        label="Full name (as on your ID)",
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs=_attrs(autocomplete="name")),
    )
    birth_date = forms.CharField(
        label="Date of birth",
        required=False,
        widget=forms.DateInput(attrs=_attrs(type="date", autocomplete="bday")),
    )
    id_type = forms.ChoiceField(
        label="ID document",
        required=False,
        choices=[("", "Choose…"), *ID_TYPES.items()],
        widget=forms.Select(attrs=_attrs()),
    )
    id_number = forms.CharField(
        label="ID number",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs=_attrs(autocomplete="off", spellcheck="false")),
    )


class EmailForm(AccessibleForm):
    email = forms.CharField(
        label="Email address",
        max_length=254,
        error_messages={"required": "Enter your email address."},
        widget=forms.EmailInput(attrs=_attrs(autocomplete="email")),
    )


class PasswordChangeForm(AccessibleForm):
    old_password = forms.CharField(
        label="Current password",
        strip=False,
        max_length=256,
        error_messages={"required": "Enter your current password."},
        widget=forms.PasswordInput(attrs=_attrs(autocomplete="current-password")),
    )
    new_password = forms.CharField(
        label="New password",
        strip=False,
        max_length=256,
        help_text="At least 10 characters. Avoid common passwords.",
        error_messages={"required": "Choose a new password."},
        widget=forms.PasswordInput(attrs=_attrs(autocomplete="new-password")),
    )


class PasskeyNameForm(AccessibleForm):
    name = forms.CharField(
        label="Name for this passkey",
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs=_attrs(placeholder="e.g. Work laptop")),
    )
