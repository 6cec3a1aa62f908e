"""Words the customer panel shows for the platform's codes, translated.

Refusals and failures (``refusal_text``): a payment refused or failed keeps its code
(``Transfer.failure_code``) and an English message (``failure_message``, for staff and the
API). Customer pages show the code's own words in the customer's language instead, so no
English reason appears inside a French sentence. In English, a message more precise than
the code's words (a limit's amounts) is kept.

The KYC tiers have their own labels for customers: ``KycTier``'s labels are for staff and
name the verification vendor ("Sumsub verified"), which a customer need not know.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop
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


# What a customer reads for a refusal recorded when a payment is asked for (the use cases'
# codes) and for MoMo's reasons (``momo_`` + the reason in lower case,
# ``application.momo.common.failure_code``).
REFUSALS: dict[str, str] = {
    "insufficient_funds": gettext_noop(
        "Your wallet does not have enough money for this amount and its fee."
    ),
    "account_not_active": gettext_noop("Your wallet cannot make payments at the moment."),
    "beneficiary_name_mismatch": gettext_noop(
        "The name you entered does not match the name registered with MTN MoMo for this number."
    ),
    "momo_approval_rejected": gettext_noop("The payment was declined on the phone."),
    "momo_payment_not_approved": gettext_noop("The payment was not approved on the phone."),
    "momo_expired": gettext_noop("The payment was not approved in time."),
    "momo_could_not_perform_transaction": gettext_noop("The payment was not approved in time."),
    "momo_payer_not_found": gettext_noop("This phone number has no active MoMo account."),
    "momo_payee_not_found": gettext_noop("This phone number has no active MoMo account."),
    "momo_not_enough_funds": gettext_noop(
        "The MoMo account does not have enough money for this payment."
    ),
    "momo_payer_limit_reached": gettext_noop("The MoMo account has reached its limit."),
    "momo_payee_not_allowed_to_receive": gettext_noop(
        "This MoMo account cannot receive this payment."
    ),
    "momo_not_allowed": gettext_noop("MoMo does not allow this payment for this account."),
}
# Codes whose English message carries details (amounts) worth keeping in English.
GENERAL_REFUSALS: dict[str, str] = {
    "limit_exceeded": gettext_noop(
        "This payment is above one of your limits (per payment, per day, per month or the "
        "largest balance). Your profile page shows your limits."
    ),
    "quote_expired": gettext_noop("The price expired before the payment. Get a new price."),
    "quote_used": gettext_noop("This price was already used. Get a new price."),
}
MOMO_GENERIC = gettext_noop(
    "MoMo could not complete the payment. No money was moved; you can try again."
)
REFUSED_GENERIC = gettext_noop("The payment did not go through.")


def refusal_text(code: str, message: str = "") -> str:
    """Why a payment was refused or failed, in the active language: the code's own words;
    in English a stored ``message`` is kept when the code has no words of its own (or only
    general ones)."""
    code = str(code or "")
    if code in REFUSALS:
        return gettext(REFUSALS[code])
    if code.startswith("momo_"):
        return gettext(MOMO_GENERIC)
    english = (translation.get_language() or "en").split("-")[0] == "en"
    if english and message:
        return message
    if code in GENERAL_REFUSALS:
        return gettext(GENERAL_REFUSALS[code])
    return gettext(REFUSED_GENERIC)


def says_nothing_moved(code: str) -> bool:
    """Whether the words for ``code`` already say that no money moved."""
    code = str(code or "")
    return code.startswith("momo_") and code not in REFUSALS
