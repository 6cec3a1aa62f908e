"""Support notes and maker-checker action requests of the back office (docs/panels.md,
"Back office: customers and transactions").

What PostgreSQL enforces (migration 0002, tests in tests/test_backoffice.py):

- a support note is append-only: never updated, deleted or truncated;
- an action request is born ``pending``; it is decided once (``approved`` or
  ``rejected``) by someone other than the staff member who asked (a check constraint and
  the trigger); nothing but the decision (state, who, when, note, result) is ever written;
  nothing is deleted; at most one request of a kind waits per customer or per transfer;
- a limit override's parameters have the right shape (migration 0003); an approved,
  unexpired one is what ``payments_limits_lookup`` applies (wallets migration 0013).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from lightway.data.wallets.models import Transfer

NOTE_MAX = 2000
REASON_MAX = 500


class SupportNote(models.Model):
    """A note a member of staff wrote on a customer's page (append-only)."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    body = models.CharField(max_length=NOTE_MAX)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "backoffice_support_note"
        indexes = [
            models.Index(
                fields=["customer", "-created_at", "-id"], name="support_note_customer_recent"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(body=""), name="backoffice_support_note_not_empty"),
        ]


class ActionKind(models.TextChoices):
    WALLETS_FREEZE = "wallets_freeze", "Freeze the customer's wallets"
    WALLETS_UNFREEZE = "wallets_unfreeze", "Unfreeze the customer's wallets"
    MFA_RESET = "mfa_reset", "Reset the customer's second factor"
    TRANSFER_RETRY = "transfer_retry", "Read the payment's outcome at MoMo again"
    TRANSFER_REVERSE = "transfer_reverse", "Reverse the payment"
    LIMIT_OVERRIDE = "limit_override", "Override the customer's limits"


CUSTOMER_KINDS = (
    ActionKind.WALLETS_FREEZE,
    ActionKind.WALLETS_UNFREEZE,
    ActionKind.MFA_RESET,
    ActionKind.LIMIT_OVERRIDE,
)
TRANSFER_KINDS = (ActionKind.TRANSFER_RETRY, ActionKind.TRANSFER_REVERSE)


class ActionState(models.TextChoices):
    PENDING = "pending", "Waiting for a second person"
    APPROVED = "approved", "Approved and carried out"
    REJECTED = "rejected", "Rejected"


class ActionRequest(models.Model):
    """One staff member proposes an action with a reason; a different one approves (the
    action is carried out in the same transaction) or rejects it."""

    kind = models.CharField(max_length=24, choices=ActionKind.choices)
    state = models.CharField(max_length=8, choices=ActionState.choices, default="pending")
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    transfer = models.ForeignKey(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reason = models.CharField(max_length=REASON_MAX)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=REASON_MAX, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    # What was asked, beside the kind: a limit override's currency, amounts (minor units,
    # null = the default) and expiry (migration 0003 checks the shape). Never changes.
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "backoffice_action_request"
        indexes = [
            models.Index(
                fields=["requested_at", "id"],
                name="backoffice_action_pending",
                condition=Q(state="pending"),
            ),
            models.Index(
                fields=["customer", "-requested_at"],
                name="backoffice_action_customer",
                condition=Q(customer__isnull=False),
            ),
            models.Index(
                fields=["transfer", "-requested_at"],
                name="backoffice_action_transfer",
                condition=Q(transfer__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ActionKind.values), name="backoffice_action_kind"
            ),
            models.CheckConstraint(
                condition=Q(state__in=ActionState.values), name="backoffice_action_state"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=CUSTOMER_KINDS, customer__isnull=False, transfer__isnull=True)
                    | Q(kind__in=TRANSFER_KINDS, transfer__isnull=False, customer__isnull=True)
                ),
                name="backoffice_action_target",
            ),
            # Four eyes: whoever asked never decides.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="backoffice_action_maker_checker",
            ),
            models.CheckConstraint(
                condition=(
                    Q(state="pending", decided_by__isnull=True, decided_at__isnull=True)
                    | (~Q(state="pending") & Q(decided_by__isnull=False, decided_at__isnull=False))
                ),
                name="backoffice_action_decided",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="backoffice_action_reason"),
            models.UniqueConstraint(
                fields=["kind", "customer"],
                condition=Q(state="pending", customer__isnull=False),
                name="backoffice_action_one_pending_customer",
            ),
            models.UniqueConstraint(
                fields=["kind", "transfer"],
                condition=Q(state="pending", transfer__isnull=False),
                name="backoffice_action_one_pending_transfer",
            ),
        ]
