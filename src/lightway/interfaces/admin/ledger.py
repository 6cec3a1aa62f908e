"""Read-only admin pages for the ledger, wallets and transfers.

Money never moves through the admin: entries, postings, holds and transfers are shown, not
edited. Staff can freeze or unfreeze accounts (audited); everything else is read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from lightway.data.ledger.models import Account, AccountStatus, Hold, JournalEntry, Posting
from lightway.data.ledger.selectors import account_balance
from lightway.data.ledger.services import account_set_status
from lightway.data.wallets.models import Transfer, Wallet
from lightway.interfaces.admin.base import AuditedModelAdmin, ReadOnlyAdminMixin

if TYPE_CHECKING:
    _TabularInline = admin.TabularInline[Posting, JournalEntry]
else:
    _TabularInline = admin.TabularInline


class ReadOnlyAdmin(ReadOnlyAdminMixin, AuditedModelAdmin):
    """Ledger pages: read-only; staff actions that do change something are audited."""


def _set_status(
    modeladmin: AccountAdmin, request: HttpRequest, queryset: QuerySet[Account], status: str
) -> None:
    with transaction.atomic():
        # ascending id: the order in which transfers lock accounts, so no deadlock
        for account in queryset.order_by("pk").select_for_update():
            if account.status == AccountStatus.CLOSED or account.status == status:
                continue
            account_set_status(account_id=account.pk, status=status)
            modeladmin.audit_staff_action(
                request, model=Account, object_id=account.pk, verb="update", fields=["status"]
            )
    modeladmin.message_user(request, f"Accounts set to {status}.", messages.SUCCESS)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "currency", "current_balance", "held", "status")
    list_filter = ("kind", "currency", "status", "derived_balance")
    search_fields = ("=code", "=owner_ref")
    actions = ("freeze", "unfreeze")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the freeze actions; the change form itself has every field read-only.
        return bool(request.user.has_perm("ledger.change_account"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Account._meta.fields]

    @admin.display(description="balance (minor units)")
    def current_balance(self, obj: Account) -> int:
        # House accounts keep no stored balance: theirs is the sum of their postings.
        return account_balance(account=obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        return None  # nothing on the form is editable

    @admin.action(description="Freeze selected accounts", permissions=["change"])
    def freeze(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        _set_status(self, request, queryset, AccountStatus.FROZEN)

    @admin.action(description="Unfreeze selected accounts", permissions=["change"])
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        _set_status(self, request, queryset, AccountStatus.ACTIVE)


class PostingInline(_TabularInline):
    model = Posting
    fields = ("account", "currency", "amount", "leg")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "reference", "posting_count", "created_at")
    list_filter = ("kind",)
    search_fields = ("=reference", "=idempotency_key")
    inlines = (PostingInline,)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "amount", "status", "reference", "expires_at")
    list_filter = ("status",)
    search_fields = ("=reference",)


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "currency", "account", "created_at")
    list_filter = ("currency",)


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "currency",
        "amount",
        "fee",
        "failure_code",
        "created_at",
    )
    list_filter = ("kind", "status", "currency")
    search_fields = ("=id", "=idempotency_key")
    date_hierarchy = "created_at"
