"""Erasure of a person's personal data after retention, by destroying their key.

A customer is due for erasure when their relationship ended (``Profile.closed_at``) longer
ago than the longest of the ``personal_data``, ``kyc`` and ``aml_records`` periods in force
for their country (the AML duty to keep due-diligence records overrides erasure,
compliance.md §4.3), they have no active legal hold, and their key is not destroyed yet.

Erasing (:func:`person_erase`) in one transaction: values of the person still sealed under
the keyring (written before per-person keys) are moved to their key first, then the key is
destroyed (the database refuses under a hold), their blind indexes are removed (profile and
notification log) and the erasure is audited with ids only. Ledger rows, transfers and the
audit chain are untouched: amounts and ids stay, and the chain still verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from lightway.application.datakeys.rotation import keys_rotate
from lightway.application.errors import ValidationFailed
from lightway.application.retention.policies import (
    policy_countries,
    policy_cutoff,
    policy_in_force,
)
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import PersonKey, Profile, Realm
from lightway.data.ledger.models import Account
from lightway.data.notify.models import Delivery
from lightway.data.retention.models import DataClass, LegalHold
from lightway.data.wallets.models import Wallet
from lightway.security.personkeys import person_key_destroy, person_key_ensure

# The classes whose periods all must have passed before a person's data is erased.
ERASURE_CLASSES = (DataClass.PERSONAL_DATA, DataClass.KYC, DataClass.AML_RECORDS)
OTHER = "*"  # profiles of a country without a market or policy of its own: the default


def erasure_cutoff(*, country: str, now: datetime) -> datetime | None:
    """Relationships closed before this moment are due (None: no policy, nothing is)."""
    cutoffs = []
    for data_class in ERASURE_CLASSES:
        policy = policy_in_force(data_class=data_class, country=country, on=now.date())
        if policy is None:
            return None
        cutoffs.append(policy_cutoff(policy, now=now))
    return min(cutoffs)


def _due(country: str, now: datetime) -> QuerySet[Profile] | None:
    cutoff = erasure_cutoff(country="" if country == OTHER else country, now=now)
    if cutoff is None:
        return None
    rows = Profile.objects.filter(realm=Realm.CUSTOMER, closed_at__lt=cutoff)
    if country == OTHER:
        rows = rows.exclude(country__in=policy_countries())
    else:
        rows = rows.filter(country=country)
    held = LegalHold.objects.filter(user_id=OuterRef("user_id"), released_at__isnull=True)
    gone = PersonKey.objects.filter(user_id=OuterRef("user_id"), destroyed_at__isnull=False)
    return rows.exclude(Exists(held)).exclude(Exists(gone))


def erasure_due_counts(*, now: datetime) -> dict[str, int]:
    """Per country (``*`` for the rest), how many customers are due for erasure."""
    out: dict[str, int] = {}
    for country in [*policy_countries(), OTHER]:
        rows = _due(country, now)
        out[country] = 0 if rows is None else rows.count()
    return out


def erasure_due(*, now: datetime, batch: int = 200) -> Iterator[tuple[str, list[int]]]:
    """(country, user ids) batches of customers due for erasure, by keyset on the user id."""
    for country in [*policy_countries(), OTHER]:
        rows = _due(country, now)
        if rows is None:
            continue
        last = 0
        while True:
            ids = list(
                rows.filter(user_id__gt=last)
                .order_by("user_id")
                .values_list("user_id", flat=True)[:batch]
            )
            if not ids:
                break
            yield country, ids
            last = ids[-1]


def customer_close(*, user_id: int, actor: str, now: datetime) -> Profile:
    """End a customer's relationship (retention counts from now): every wallet empty, no
    money held; the sign-in is turned off. Audited."""
    with transaction.atomic():
        profile = Profile.objects.select_for_update().filter(user_id=user_id).first()
        if profile is None or profile.realm != Realm.CUSTOMER:
            raise ValidationFailed("no such customer", details={"field": "user"})
        if profile.closed_at is not None:
            raise ValidationFailed("this customer is already closed", details={"field": "user"})
        accounts = Wallet.objects.filter(owner_id=user_id).values_list("account_id", flat=True)
        if Account.objects.filter(pk__in=list(accounts)).exclude(balance=0, held=0).exists():
            raise ValidationFailed(
                "pay out every wallet balance before closing the customer",
                details={"field": "user"},
            )
        profile.closed_at = now
        profile.updated_at = now
        profile.save(update_fields=["closed_at", "updated_at"])
        get_user_model().objects.filter(pk=user_id).update(is_active=False)
        audit_record(
            actor=actor,
            action="customer.close",
            object_type="auth.user",
            object_id=str(user_id),
            data={},
            now=now,
        )
    return profile


def person_erase(*, user_id: int, actor: str, now: datetime, reason: str) -> bool:
    """Erase one person's personal data (see the module docstring); False when it already
    was. Raises ValidationFailed when the person is not closed or is under legal hold."""
    with transaction.atomic():
        profile = Profile.objects.select_for_update().filter(user_id=user_id).first()
        if profile is None:
            raise ValidationFailed("no such person", details={"field": "user"})
        if profile.closed_at is None:
            raise ValidationFailed(
                "only a closed customer's personal data is erased", details={"field": "user"}
            )
        if LegalHold.objects.filter(user_id=user_id, released_at__isnull=True).exists():
            raise ValidationFailed("this person is under legal hold", details={"field": "user"})
        if person_key_ensure(user_id=user_id, now=now) is None:
            return False  # already erased
        # Values from before per-person keys: moved to the key, so destroying it erases them.
        keys_rotate(now=now, person_only=True, user_id=user_id)
        person_key_destroy(user_id=user_id, now=now, reason=reason)
        Profile.objects.filter(user_id=user_id).update(
            phone_bidx=None, email_bidx=None, id_number_bidx=None, updated_at=now
        )
        deliveries = Delivery.objects.filter(user_id=user_id).update(
            recipient_bidx="", recipient_masked="erased"
        )
        audit_record(
            actor=actor,
            action="retention.erase",
            object_type="auth.user",
            object_id=str(user_id),
            data={"deliveries": deliveries, "reason": reason[:100]},
            now=now,
        )
    return True
