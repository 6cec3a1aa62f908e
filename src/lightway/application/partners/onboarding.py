"""Partner onboarding by LightWay staff: company details, markets and currencies, contacts,
the webhook URL and the partner's status (docs/partner-webhooks.md, "Partners").

- ``partner_onboard`` creates the partner, its contacts (personal data sealed), a prefund
  account per allowed currency and, when a webhook URL is given, its first webhook signing
  key; the secret is returned once (show it to the partner now).
- ``partner_update`` changes everything but the code and the contacts (added and removed
  one by one: ``partner_contact_add`` / ``partner_contact_remove``, never shown in clear);
  a currency added opens its prefund account; a first webhook URL makes the first key.
- ``partner_status_set``: active ↔ suspended, and closed, which is final (the database
  refuses any change to a closed partner). The API enforces the status on the very next
  signed request (``security/signatures.py``). A reason is required and audited.

Every field is checked here, all at once: a refusal is one ``ValidationFailed`` whose
``details["errors"]`` maps each field to what is wrong with it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.application.partners.prefund import partner_prefund_accounts, partner_prefunds_open
from lightway.application.partners.webhooks import (
    webhook_cursor_start,
    webhook_key_create,
    webhook_keys_live,
)
from lightway.application.reasons import reason_clean
from lightway.application.text import text_printable
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import ContactRole, Partner, PartnerContact, PartnerStatus
from lightway.data.money import currency_codes
from lightway.integration.webhooks.port import is_loopback_host, is_private_address
from lightway.security.crypto import decrypt, decrypt_optional, encrypt, encrypt_optional
from lightway.security.masking import mask_email, mask_name, mask_phone
from lightway.security.secret_settings import production_settings

CODE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
MAX_CONTACTS = 10
CONTACT_FIELDS = ("name", "email", "phone")


def contact_context(field_name: str, ref: str) -> str:
    """The associated data a contact's field is sealed with."""
    return f"identity.partner_contact.{field_name}:{ref}"


def _contact_column(field_name: str) -> EncryptedColumn:
    def context(row: Any) -> str:
        return contact_context(field_name, row.ref)

    return EncryptedColumn("identity.PartnerContact", f"{field_name}_ct", context)


for _field in CONTACT_FIELDS:
    encrypted_column_register(_contact_column(_field))


@dataclass(frozen=True)
class ContactIn:
    role: str
    name: str
    email: str
    phone: str = ""


@dataclass(frozen=True)
class PartnerDetails:
    """What staff enter for a partner. ``code`` is fixed at onboarding (it names the
    partner's ledger accounts); ``partner_update`` ignores it."""

    code: str
    name: str
    legal_name: str
    registration_number: str
    country: str
    address: str
    markets: tuple[str, ...]
    currencies: tuple[str, ...]
    webhook_url: str = ""
    contacts: tuple[ContactIn, ...] = ()


@dataclass(frozen=True)
class ContactView:
    ref: str
    role: str
    name: str  # masked
    email: str  # masked
    phone: str  # masked ("" when none)


@dataclass(frozen=True)
class PartnerView:
    id: int
    code: str
    name: str
    legal_name: str
    registration_number: str
    country: str
    address: str
    markets: list[str]
    currencies: list[str]
    webhook_url: str
    status: str
    status_reason: str
    status_changed_at: datetime | None
    created_at: datetime
    contacts: list[ContactView] = field(default_factory=list)


@dataclass(frozen=True)
class OnboardResult:
    partner_id: int
    code: str
    # The first webhook signing key, when this call made one: the secret is shown once.
    webhook_key_id: str | None = None
    webhook_secret: str | None = None


# --- validation ----------------------------------------------------------------------------


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks, or None. https only, except http to a loopback
    host outside production settings (the demo's and the tests' receiver simulator); in
    production no private or loopback literal address either."""
    if len(url) > 500:
        return "the webhook URL must be at most 500 characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return "the webhook URL is not a valid URL"
    if parts.scheme not in ("https", "http") or not host:
        return "the webhook URL must be an https:// URL"
    if parts.username or parts.password:
        return "the webhook URL must not carry a user name or password"
    if parts.fragment:
        return "the webhook URL must not have a #fragment"
    if not text_printable(url, min_length=1, max_length=500) or " " in url:
        return "the webhook URL must not contain spaces or control characters"
    production = production_settings()
    if parts.scheme == "http" and (production or not is_loopback_host(host)):
        return (
            "the webhook URL must use https:// (http:// only to localhost or 127.0.0.1, "
            "and only outside production)"
        )
    if production and (is_loopback_host(host) or is_private_address(host)):
        return "the webhook URL must be a public address"
    return None


def _text(errors: dict[str, str], name: str, value: str, *, label: str, lo: int, hi: int) -> str:
    cleaned = " ".join((value or "").split())
    if not text_printable(cleaned, min_length=lo, max_length=hi):
        errors[name] = (
            f"{label} is required (at most {hi} characters)"
            if not cleaned and lo
            else f"{label} must be {lo} to {hi} printable characters"
        )
    return cleaned


def _country(value: str) -> str | None:
    code = (value or "").strip().upper()
    if len(code) == 2 and code in phonenumbers.SUPPORTED_REGIONS:
        return code
    return None


def _contact(errors: dict[str, str], n: int, contact: ContactIn, country: str | None) -> ContactIn:
    prefix = f"contacts.{n}"
    role = (contact.role or "").strip().lower()
    if role not in ContactRole.values:
        errors[f"{prefix}.role"] = f"role must be one of {', '.join(ContactRole.values)}"
    name = _text(errors, f"{prefix}.name", contact.name, label="the contact's name", lo=2, hi=120)
    email = (contact.email or "").strip()
    try:
        validate_email(email)
    except DjangoValidationError:
        errors[f"{prefix}.email"] = "the contact's email is not a valid email address"
    email = email.lower() if len(email) <= 254 else email
    phone = ""
    if (contact.phone or "").strip():
        try:
            number = phonenumbers.parse(contact.phone.strip(), country or None)
            if not phonenumbers.is_valid_number(number):
                raise phonenumbers.NumberParseException(0, "invalid")
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            errors[f"{prefix}.phone"] = (
                "the contact's phone is not a valid number (give it as +<country code>...)"
            )
    return ContactIn(role=role, name=name, email=email, phone=phone)


def partner_details_clean(details: PartnerDetails, *, onboarding: bool) -> PartnerDetails:
    """``details`` normalised, or ``ValidationFailed`` naming every bad field."""
    errors: dict[str, str] = {}
    code = (details.code or "").strip().lower()
    if onboarding and not CODE_RE.match(code):
        errors["code"] = (
            "code must be 3 to 40 lower-case letters, digits or hyphens, starting and ending "
            "with a letter or digit (it names the partner's accounts and cannot change)"
        )
    name = _text(errors, "name", details.name, label="the trading name", lo=2, hi=120)
    legal_name = _text(
        errors, "legal_name", details.legal_name, label="the legal name", lo=2, hi=200
    )
    registration = _text(
        errors,
        "registration_number",
        details.registration_number,
        label="the registration number",
        lo=1,
        hi=64,
    )
    country = _country(details.country)
    if country is None:
        errors["country"] = "country must be an ISO 3166 alpha-2 code (GB, US, UG, ...)"
    address = _text(errors, "address", details.address, label="the address", lo=5, hi=300)
    markets = sorted({(m or "").strip().upper() for m in details.markets if (m or "").strip()})
    if not markets:
        errors["markets"] = "choose at least one market"
    elif any(m not in MARKETS for m in markets):
        errors["markets"] = f"markets must be among {', '.join(sorted(MARKETS))}"
    currencies = sorted(
        {(c or "").strip().upper() for c in details.currencies if (c or "").strip()}
    )
    if not currencies:
        errors["currencies"] = "choose at least one currency"
    elif any(c not in currency_codes() for c in currencies):
        errors["currencies"] = f"currencies must be among {', '.join(sorted(currency_codes()))}"
    url = (details.webhook_url or "").strip()
    if url:
        problem = webhook_url_problem(url)
        if problem:
            errors["webhook_url"] = problem
    if len(details.contacts) > MAX_CONTACTS:
        errors["contacts"] = f"at most {MAX_CONTACTS} contacts"
    contacts = tuple(_contact(errors, n, c, country) for n, c in enumerate(details.contacts))
    if onboarding and not contacts and "contacts" not in errors:
        errors["contacts"] = "give at least one contact"
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(
            f"the partner's details are not valid: {errors[first]}",
            details={"field": first, "errors": errors},
        )
    return replace(
        details,
        code=code,
        name=name,
        legal_name=legal_name,
        registration_number=registration,
        country=country or "",
        address=address,
        markets=tuple(markets),
        currencies=tuple(currencies),
        webhook_url=url,
        contacts=contacts,
    )


# --- writes ----------------------------------------------------------------------------------


def _contacts_write(partner: Partner, contacts: tuple[ContactIn, ...], now: datetime) -> None:
    for contact in contacts:
        ref = "pct_" + secrets.token_hex(10)
        PartnerContact.objects.create(
            partner=partner,
            ref=ref,
            role=contact.role,
            name_ct=encrypt(contact.name, context=contact_context("name", ref)),
            email_ct=encrypt(contact.email, context=contact_context("email", ref)),
            phone_ct=encrypt_optional(contact.phone or None, context=contact_context("phone", ref)),
            created_at=now,
        )


def _webhook_start(partner: Partner, actor: str, now: datetime) -> tuple[str | None, str | None]:
    """The first signing key and the dispatch cursor when a URL is set and none exists."""
    if not partner.webhook_url:
        return None, None
    webhook_cursor_start(partner_id=partner.pk, now=now)
    if webhook_keys_live(partner_id=partner.pk, now=now):
        return None, None
    return webhook_key_create(partner_id=partner.pk, actor=actor, now=now)


def _audit(actor: str, action: str, partner: Partner, now: datetime, **data: object) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="identity.partner",
        object_id=str(partner.pk),
        data={"code": partner.code, **data},
        now=now,
    )


def partner_onboard(*, details: PartnerDetails, actor: str, now: datetime) -> OnboardResult:
    """Onboard a partner (see the module docstring); ``Conflict`` when the code is taken."""
    clean = partner_details_clean(details, onboarding=True)
    try:
        with transaction.atomic():
            partner = Partner.objects.create(
                code=clean.code,
                name=clean.name,
                legal_name=clean.legal_name,
                registration_number=clean.registration_number,
                country=clean.country,
                address=clean.address,
                markets=list(clean.markets),
                currencies=list(clean.currencies),
                webhook_url=clean.webhook_url,
                status=PartnerStatus.ACTIVE,
                created_at=now,
                updated_at=now,
            )
            _contacts_write(partner, clean.contacts, now)
            partner_prefunds_open(partner_code=partner.code, currencies=clean.currencies, now=now)
            key_id, secret = _webhook_start(partner, actor, now)
            _audit(
                actor,
                "partner.onboard",
                partner,
                now,
                markets=list(clean.markets),
                currencies=list(clean.currencies),
                contacts=len(clean.contacts),
                webhook=bool(clean.webhook_url),
            )
    except IntegrityError:
        raise Conflict(
            f"a partner with the code {clean.code!r} exists already",
            details={"field": "code", "errors": {"code": "this code is taken"}},
        ) from None
    return OnboardResult(partner.pk, partner.code, key_id, secret)


def _locked(partner_id: int) -> Partner:
    partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
    if partner is None:
        raise NotFound("partner not found", details={"partner_id": partner_id})
    return partner


def partner_update(
    *, partner_id: int, details: PartnerDetails, actor: str, now: datetime
) -> OnboardResult:
    """Change a partner's details (not its code); a closed partner cannot change."""
    clean = partner_details_clean(details, onboarding=False)
    with transaction.atomic():
        partner = _locked(partner_id)
        if partner.status == PartnerStatus.CLOSED:
            raise Conflict("the partner is closed: it cannot change", details={"status": "closed"})
        fields = {
            "name": clean.name,
            "legal_name": clean.legal_name,
            "registration_number": clean.registration_number,
            "country": clean.country,
            "address": clean.address,
            "markets": list(clean.markets),
            "currencies": list(clean.currencies),
            "webhook_url": clean.webhook_url,
        }
        changed = sorted(k for k, v in fields.items() if getattr(partner, k) != v)
        for name, value in fields.items():
            setattr(partner, name, value)
        partner.updated_at = now
        partner.save(update_fields=[*fields, "updated_at"])
        partner_prefunds_open(partner_code=partner.code, currencies=clean.currencies, now=now)
        key_id, secret = _webhook_start(partner, actor, now)
        _audit(actor, "partner.update", partner, now, fields=changed)
    return OnboardResult(partner.pk, partner.code, key_id, secret)


def partner_contact_add(*, partner_id: int, contact: ContactIn, actor: str, now: datetime) -> str:
    """Add a contact (sealed); returns its ref."""
    with transaction.atomic():
        partner = _locked(partner_id)
        if partner.status == PartnerStatus.CLOSED:
            raise Conflict("the partner is closed: it cannot change", details={"status": "closed"})
        errors: dict[str, str] = {}
        clean = _contact(errors, 0, contact, partner.country or None)
        if errors:
            errors = {k.removeprefix("contacts.0."): v for k, v in errors.items()}
            first = next(iter(errors))
            raise ValidationFailed(
                f"the contact is not valid: {errors[first]}",
                details={"field": first, "errors": errors},
            )
        if PartnerContact.objects.filter(partner=partner).count() >= MAX_CONTACTS:
            raise Conflict(f"a partner has at most {MAX_CONTACTS} contacts")
        _contacts_write(partner, (clean,), now)
        ref = (
            PartnerContact.objects.filter(partner=partner)
            .order_by("-id")
            .values_list("ref", flat=True)[0]
        )
        _audit(actor, "partner.contact_add", partner, now, contact=ref, role=clean.role)
    return str(ref)


def partner_contact_remove(*, partner_id: int, ref: str, actor: str, now: datetime) -> None:
    """Remove a contact; a partner keeps at least one."""
    with transaction.atomic():
        partner = _locked(partner_id)
        if partner.status == PartnerStatus.CLOSED:
            raise Conflict("the partner is closed: it cannot change", details={"status": "closed"})
        contacts = PartnerContact.objects.filter(partner=partner)
        contact = contacts.filter(ref=ref).first()
        if contact is None:
            raise NotFound("contact not found", details={"ref": ref})
        if contacts.count() <= 1:
            raise Conflict("a partner keeps at least one contact: add another one first")
        contact.delete()
        _audit(actor, "partner.contact_remove", partner, now, contact=ref)


_TRANSITIONS = {
    PartnerStatus.ACTIVE: {PartnerStatus.SUSPENDED, PartnerStatus.CLOSED},
    PartnerStatus.SUSPENDED: {PartnerStatus.ACTIVE, PartnerStatus.CLOSED},
    PartnerStatus.CLOSED: set(),
}


def partner_status_set(
    *, partner_id: int, status: str, reason: str, actor: str, now: datetime
) -> Partner:
    """Suspend, reactivate or close a partner, with a reason (audited). Closing needs every
    prefund account empty (no balance, nothing held): settle or refund it first."""
    if status not in PartnerStatus.values:
        raise ValidationFailed(
            f"status must be one of {', '.join(PartnerStatus.values)}", details={"field": "status"}
        )
    why = reason_clean(reason, purpose="why the partner's status changes")
    with transaction.atomic():
        partner = _locked(partner_id)
        current = PartnerStatus(partner.status)
        if status == current:
            raise Conflict(f"the partner is already {status}", details={"status": status})
        if status not in _TRANSITIONS[current]:
            raise Conflict(
                "the partner is closed; closing is final",
                details={"status": current.value},
            )
        if status == PartnerStatus.CLOSED:
            busy = [
                a.currency
                for a in partner_prefund_accounts(partner_code=partner.code)
                if a.balance or a.held
            ]
            if busy:
                raise Conflict(
                    "the partner still has money on its prefund in "
                    f"{', '.join(busy)}: settle or refund it before closing",
                    details={"currencies": busy},
                )
        previous = partner.status
        partner.status = status
        partner.status_reason = why if status != PartnerStatus.ACTIVE else ""
        partner.status_changed_at = now
        partner.updated_at = now
        partner.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
        _audit(
            actor, "partner.status_set", partner, now, previous=previous, status=status, reason=why
        )
    return partner


# --- reads -----------------------------------------------------------------------------------


def _contact_view(contact: PartnerContact) -> ContactView:
    ref = contact.ref
    name = decrypt(bytes(contact.name_ct), context=contact_context("name", ref))
    email = decrypt(bytes(contact.email_ct), context=contact_context("email", ref))
    phone = decrypt_optional(contact.phone_ct, context=contact_context("phone", ref))
    return ContactView(
        ref=ref,
        role=contact.role,
        name=mask_name(name),
        email=mask_email(email),
        phone=mask_phone(phone) if phone else "",
    )


def _view(partner: Partner, *, contacts: bool) -> PartnerView:
    return PartnerView(
        id=partner.pk,
        code=partner.code,
        name=partner.name,
        legal_name=partner.legal_name,
        registration_number=partner.registration_number,
        country=partner.country,
        address=partner.address,
        markets=list(partner.markets),
        currencies=list(partner.currencies),
        webhook_url=partner.webhook_url,
        status=partner.status,
        status_reason=partner.status_reason,
        status_changed_at=partner.status_changed_at,
        created_at=partner.created_at,
        contacts=(
            [_contact_view(c) for c in PartnerContact.objects.filter(partner=partner)]
            if contacts
            else []
        ),
    )


def partner_list() -> list[PartnerView]:
    """Every partner, by code (a short list: partners are onboarded one by one)."""
    return [_view(p, contacts=False) for p in Partner.objects.order_by("code")]


def partner_get(*, code: str) -> PartnerView:
    """One partner with its contacts, masked; ``NotFound`` for an unknown code."""
    partner = Partner.objects.filter(code=code).first()
    if partner is None:
        raise NotFound("partner not found", details={"code": code})
    return _view(partner, contacts=True)


def partner_details_of(*, partner_id: int) -> PartnerDetails:
    """The partner's current details as the edit form starts from them (contacts are
    changed one by one and never shown in clear: ``partner_contact_add`` / ``_remove``)."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        raise NotFound("partner not found", details={"partner_id": partner_id})
    return PartnerDetails(
        code=partner.code,
        name=partner.name,
        legal_name=partner.legal_name,
        registration_number=partner.registration_number,
        country=partner.country,
        address=partner.address,
        markets=tuple(partner.markets),
        currencies=tuple(partner.currencies),
        webhook_url=partner.webhook_url,
    )
