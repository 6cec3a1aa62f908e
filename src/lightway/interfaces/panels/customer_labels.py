"""Words the customer panel shows for the platform's codes, translated.

The KYC tiers have their own labels for customers: ``KycTier``'s labels are for staff and
name the verification vendor ("Sumsub verified"), which a customer need not know.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

TIER_LABELS: dict[int, Promise] = {
    0: _("Registered, phone not verified"),
    1: _("Phone verified"),
    2: _("Basic identity"),
    3: _("Identity verified"),
}

NOTIFICATION_TOPICS: dict[str, Promise] = {
    "security": _("Security (codes and alerts)"),
    "transactions": _("Payments"),
    "kyc": _("Identity checks and limits"),
    "marketing": _("News and offers"),
}

CHANNEL_NAMES: dict[str, Promise] = {"sms": _("SMS"), "email": _("Email")}


def tier_label(tier: int) -> str:
    """What a customer reads for a KYC tier."""
    return str(TIER_LABELS.get(int(tier), TIER_LABELS[0]))
