"""Profiles, partners and KYC tier limits.

Personal data never sits in clear in the database: each personal field is a ciphertext
(``*_ct``, sealed by ``lightway.security.crypto`` with the field and user as associated
data) and, where the platform looks people up by it, a keyed blind index (``*_bidx``).
Django's ``auth_user`` keeps only an opaque username (customers: their ``subject``), no
names and no email address.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class Realm(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    LIGHTWAY = "lightway", "LightWay staff"
    MTN = "mtn", "MTN staff"
    PARTNER = "partner", "Partner (IMTO)"


class KycTier(models.IntegerChoices):
    REGISTERED = 0, "Registered (phone not verified)"
    PHONE_VERIFIED = 1, "Phone verified"
    BASIC_IDENTITY = 2, "Basic identity"
    SUMSUB_VERIFIED = 3, "Sumsub verified"


class PartnerStatus(models.TextChoices):
    """What the partner API lets a partner do: everything, nothing (suspended: may come back),
    nothing ever again (closed: final, by trigger in migration 0005)."""

    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CLOSED = "closed", "Closed"


class Partner(models.Model):
    """An IMTO (international money transfer operator) that uses the partner API.

    Onboarded by LightWay staff (``lightway.application.partners.onboarding``): company
    details, the markets (destination countries) and currencies it may use, contacts
    (``PartnerContact``, personal data sealed), the URL its webhooks go to (the signing keys
    are ``partners.WebhookKey``) and a status the API enforces on every signed request.
    Company details are business data, not personal data: kept in clear.
    """

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)  # the trading name, shown everywhere
    legal_name = models.CharField(max_length=200, blank=True, default="")
    registration_number = models.CharField(max_length=64, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="", help_text="ISO 3166")
    address = models.CharField(max_length=300, blank=True, default="")
    markets = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    currencies = ArrayField(models.CharField(max_length=3), default=list, blank=True)
    webhook_url = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(
        max_length=12, choices=PartnerStatus.choices, default=PartnerStatus.ACTIVE
    )
    status_reason = models.CharField(max_length=300, blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "identity_partner"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in PartnerStatus]),
                name="partner_status_known",
            ),
            # Suspending or closing always says why (the audit record has it too).
            models.CheckConstraint(
                condition=Q(status=PartnerStatus.ACTIVE) | ~Q(status_reason=""),
                name="partner_status_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_active(self) -> bool:
        """Read-only shorthand for ``status == "active"`` (the column it replaced)."""
        return self.status == PartnerStatus.ACTIVE


class ContactRole(models.TextChoices):
    BUSINESS = "business", "Business"
    TECHNICAL = "technical", "Technical"
    OPERATIONS = "operations", "Operations"
    FINANCE = "finance", "Finance"
    COMPLIANCE = "compliance", "Compliance"


class PartnerContact(models.Model):
    """A person at the partner LightWay talks to. Name, email and phone are personal data:
    sealed field by field (AES-256-GCM, ``lightway.security.crypto``) with the contact's
    ``ref`` as associated data, shown masked."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="contacts")
    ref = models.CharField(max_length=40, unique=True)  # "pct_<hex>": sealing context, URLs
    role = models.CharField(max_length=16, choices=ContactRole.choices)
    name_ct = models.BinaryField()
    email_ct = models.BinaryField()
    phone_ct = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "identity_partner_contact"
        ordering = ["partner_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in ContactRole]),
                name="partner_contact_role_known",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} contact {self.ref}"


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="profile"
    )
    realm = models.CharField(max_length=12, choices=Realm.choices)
    # Opaque reference for logs, ledger descriptions and analytics ("sub_<hex>").
    subject = models.CharField(max_length=40, unique=True)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2")
    language = models.CharField(
        max_length=2, default="en", choices=[("en", "English"), ("fr", "Français")]
    )

    phone_ct = models.BinaryField(null=True, blank=True)
    phone_bidx = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    email_ct = models.BinaryField(null=True, blank=True)
    email_bidx = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    name_ct = models.BinaryField(null=True, blank=True)
    id_type = models.CharField(max_length=24, blank=True)
    id_number_ct = models.BinaryField(null=True, blank=True)
    id_number_bidx = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    birth_date_ct = models.BinaryField(null=True, blank=True)

    phone_verified_at = models.DateTimeField(null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    terms_version = models.CharField(max_length=20, blank=True)
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    kyc_tier = models.PositiveSmallIntegerField(choices=KycTier.choices, default=KycTier.REGISTERED)
    # The end of the business relationship (retention counts from here; docs/retention.md).
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "identity_profile"
        indexes = [
            # Retention finds closed relationships by date: a range probe, not a scan.
            models.Index(
                fields=["country", "closed_at"],
                condition=Q(closed_at__isnull=False),
                name="identity_profile_closed",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(realm__in=[r.value for r in Realm]), name="profile_realm_known"
            ),
            models.CheckConstraint(
                condition=Q(kyc_tier__lte=max(t.value for t in KycTier)),
                name="profile_kyc_tier_known",
            ),
            models.CheckConstraint(
                condition=~Q(realm=Realm.PARTNER) | Q(partner__isnull=False),
                name="profile_partner_realm_has_partner",
            ),
            # One account per phone number / email / ID number (by blind index), reserved
            # only once verified: an unverified claim blocks nobody (issue 11 finding 4), so
            # a stranger's pending registration cannot lock the real owner out. A phone or
            # email counts once verified; an ID number once the account reached basic
            # identity (tier 2: a verified phone and complete identity).
            models.UniqueConstraint(
                fields=["phone_bidx"],
                condition=Q(phone_verified_at__isnull=False),
                name="profile_verified_phone_unique",
            ),
            models.UniqueConstraint(
                fields=["email_bidx"],
                condition=Q(email_verified_at__isnull=False),
                name="profile_verified_email_unique",
            ),
            models.UniqueConstraint(
                fields=["id_number_bidx"],
                condition=Q(kyc_tier__gte=2),
                name="profile_claimed_id_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_realm_display()} {self.subject}"


class KycTierLimit(models.Model):
    """What a customer of a tier may do in one country and currency, from a date on.

    The row with the latest ``effective_from`` not after now applies. ``None`` means no
    limit. Rows in effect are frozen by trigger; a change is a new row with a later date.
    """

    country = models.CharField(max_length=2, help_text="ISO 3166 alpha-2")
    tier = models.PositiveSmallIntegerField(choices=KycTier.choices)
    currency = models.CharField(max_length=3)
    effective_from = models.DateTimeField()
    per_transaction = models.BigIntegerField(null=True, blank=True, help_text="minor units")
    daily = models.BigIntegerField(null=True, blank=True, help_text="minor units")
    monthly = models.BigIntegerField(null=True, blank=True, help_text="minor units")
    max_balance = models.BigIntegerField(null=True, blank=True, help_text="minor units")
    source = models.CharField(max_length=200, blank=True, help_text="regulator reference")
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=40, default="system")
    # The transaction that inserted the row (txid_current()), stamped by the database and
    # never changed: the freeze tells "inserted by this transaction" by it (migration 0003).
    created_txid = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "identity_kyc_tier_limit"
        ordering = ["country", "currency", "tier", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "tier", "currency", "effective_from"],
                name="kyc_limit_one_per_start",
            ),
            models.CheckConstraint(
                condition=(Q(per_transaction__isnull=True) | Q(per_transaction__gte=0))
                & (Q(daily__isnull=True) | Q(daily__gte=0))
                & (Q(monthly__isnull=True) | Q(monthly__gte=0))
                & (Q(max_balance__isnull=True) | Q(max_balance__gte=0)),
                name="kyc_limit_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.country} {self.currency} tier {self.tier} from {self.effective_from:%Y-%m-%d}"
        )


class PersonKey(models.Model):
    """A person's own data key (docs/retention.md): 32 random bytes, stored sealed under the
    keyring's current KEK (``key_ct``, re-wrapped by ``lightway keys rotate``). The person's
    personal data is sealed with it (``lightway.security.personkeys``). Erasure destroys it:
    ``key_ct`` becomes NULL and ``destroyed_at`` is set, once and for good (trigger in
    migration 0006; a subject under legal hold is refused by retention's trigger)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    key_ct = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField()
    destroyed_at = models.DateTimeField(null=True, blank=True)
    destroyed_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "identity_person_key"
        constraints = [
            models.CheckConstraint(
                condition=(Q(key_ct__isnull=False) & Q(destroyed_at__isnull=True))
                | (
                    Q(key_ct__isnull=True) & Q(destroyed_at__isnull=False) & ~Q(destroyed_reason="")
                ),
                name="person_key_live_or_destroyed",
            )
        ]

    def __str__(self) -> str:
        return f"person key of user {self.user_id}"
