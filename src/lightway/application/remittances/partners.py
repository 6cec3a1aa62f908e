"""The partner behind a signed request, as the remittance use cases need it."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from lightway.application.errors import DomainError, NotFound
from lightway.application.identity.profiles import profile_create
from lightway.application.remittances.outcome import partner_may_transact
from lightway.data.identity.models import Partner, Profile, Realm


class PartnerSuspended(DomainError):
    """The partner is suspended or closed: nothing new may start (403)."""

    code = "partner_suspended"


def partner_active(*, partner_id: int) -> Partner:
    """The partner, refused at once when it may not transact (suspended or closed)."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        raise NotFound("partner not found")
    if not partner_may_transact(partner):
        raise PartnerSuspended(
            "your account is suspended: no new quotes, remittances or confirmations"
        )
    return partner


def partner_client_id(*, partner: Partner, now: datetime) -> int:
    """The user a partner's payments are recorded for (``wallets_transfer.client``): its
    API user, made once if the partner has none yet (its payments need one)."""
    found = (
        Profile.objects.filter(realm=Realm.PARTNER, partner_id=partner.pk)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .first()
    )
    if found is not None:
        return int(found)
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username=f"partner-{partner.code}")
        if not Profile.objects.filter(user_id=user.pk).exists():
            profile_create(
                user_id=user.pk,
                realm=Realm.PARTNER,
                now=now,
                partner_id=partner.pk,
            )
    return int(user.pk)
