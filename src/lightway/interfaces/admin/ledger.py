"""Read-only admin pages for the ledger, wallets and transfers.

Money never moves through the admin: entries, postings, holds and transfers are shown, not
edited. Staff can freeze or unfreeze accounts, giving a reason (the application service
``transactions.accounts`` locks, validates and audits); everything else is read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from lightway.application.errors import DomainError
from lightway.application.transactions.accounts import (
    StatusChange,
    account_freeze,
    account_unfreeze,
)
from lightway.data.ledger.models import Account, Hold, JournalEntry, Posting
from lightway.data.ledger.rollups import account_balance_expression
from lightway.data.wallets.models import Transfer, TransferKind, Wallet
from lightway.interfaces.admin.base import (
    AuditedModelAdmin,
    ReadOnlyAdminMixin,
    fixed_choices_filter,
    search_int,
    search_text,
    search_uuid,
    staff_actor,
)
from lightway.interfaces.panels.forms import reason_field

if TYPE_CHECKING:
    _TabularInline = admin.TabularInline[Posting, JournalEntry]
else:
    _TabularInline = admin.TabularInline


class ReadOnlyAdmin(ReadOnlyAdminMixin, AuditedModelAdmin):
    """Ledger pages: read-only; staff actions that do change something are audited."""


class StatusReasonForm(forms.Form):
    reason = reason_field(why="why", attrs={"size": "60"})


def _status_action(
    modeladmin: AccountAdmin,
    request: HttpRequest,
    queryset: QuerySet[Account],
    *,
    verb: str,
    change: Callable[..., StatusChange],
) -> TemplateResponse | None:
    """First an intermediate page asking for the reason, then one call to ``change`` (the
    application service: locks, validation, audit) for the whole selection."""
    form = StatusReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            result = change(
                account_ids=list(queryset.values_list("pk", flat=True)),
                reason=form.cleaned_data["reason"],
                actor=staff_actor(request),
                now=timezone.now(),
            )
        except DomainError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return None
        note = f"{len(result.changed)} account(s) set to {result.status}"
        if result.unchanged:
            note += f"; {len(result.unchanged)} already were"
        modeladmin.message_user(request, note + ".", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{verb.capitalize()} accounts",
        "opts": Account._meta,
        "accounts": queryset.order_by("pk"),
        "form": form,
        "action": verb,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/ledger/account_status.html", context)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "currency", "current_balance", "held", "status")
    list_filter = ("kind", "currency", "status", "derived_balance")
    # Exact matches on indexed columns (base.BoundedListMixin): unique code, owner index.
    indexed_search = (("code", search_text(120)), ("owner_ref", search_text(64)))
    search_help_text = "An account code (wallet:<wallet id>, house:...) or an owner (user:<id>)."

    actions = ("freeze", "unfreeze")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the freeze actions; the change form itself has every field read-only.
        return bool(request.user.has_perm("ledger.change_account"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Account._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        # House accounts keep no stored balance: theirs is their latest balance checkpoint
        # plus the postings after it, computed in the page's one query (not a sum over all
        # their postings per row).
        accounts: QuerySet[Account] = super().get_queryset(request)
        return accounts.annotate(current=account_balance_expression())

    @admin.display(description="balance (minor units)")
    def current_balance(self, obj: Account) -> int:
        return int(getattr(obj, "current", obj.balance))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        return None  # nothing on the form is editable

    @admin.action(description="Freeze selected accounts", permissions=["change"])
    def freeze(self, request: HttpRequest, queryset: QuerySet[Account]) -> TemplateResponse | None:
        return _status_action(self, request, queryset, verb="freeze", change=account_freeze)

    @admin.action(description="Unfreeze selected accounts", permissions=["change"])
    def unfreeze(
        self, request: HttpRequest, queryset: QuerySet[Account]
    ) -> TemplateResponse | None:
        return _status_action(self, request, queryset, verb="unfreeze", change=account_unfreeze)


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
    # The kinds entries are posted with (``entry_post(kind=...)``): a fixed list, not a
    # SELECT DISTINCT over every entry.
    list_filter = (
        fixed_choices_filter(
            "kind",
            "kind",
            [
                *TransferKind.choices,
                ("opening_balance", "Opening balance"),
            ],
        ),
    )
    # ledger_entry_reference, the unique idempotency key, the primary key
    indexed_search = (
        ("reference", search_text(64)),
        ("idempotency_key", search_text(200)),
        ("id", search_int),
    )
    search_help_text = "A transfer id (the entry's reference), an idempotency key or an entry id."
    inlines = (PostingInline,)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "amount", "status", "reference", "expires_at")
    list_filter = ("status",)
    indexed_search = (("reference", search_text(64)), ("id", search_int))  # ledger_hold_reference
    search_help_text = "A transfer id (the hold's reference) or a hold id."


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
    # Newest first through transfer_created (created_at, id); the date filter is a range on
    # the same index. No date_hierarchy: its year/month links are a SELECT DISTINCT
    # date_trunc(...) over every transfer on each page view.
    list_filter = ("kind", "status", "currency", "created_at")
    ordering = ("-created_at", "-id")
    # The primary key and the entry's foreign-key index. Not the idempotency key: it is
    # unique per customer only (its index leads with the customer), and indexing it alone
    # would cost every payment an index entry; find those through the customer's page.
    indexed_search = (("id", search_uuid), ("entry_id", search_int))
    search_help_text = "A transfer id, or the id of its journal entry."
