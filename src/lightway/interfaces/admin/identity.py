"""Admin for KYC tier limits and partners (IMTOs); every change is audited.

KYC tier limits are effective-dated and frozen once in effect (by the database, identity
migration 0002): a row in effect is shown read-only in substance — the form refuses to
save it and cannot delete it. To change limits, open the row, edit the values, set a later
"effective from" and press "Save as new": the new row applies from that date, the old one
until then. A row not yet in effect can still be edited or deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from lightway.application.identity.phones import MARKETS
from lightway.application.kyc.tiers import LIMIT_FIELDS, limit_row_summary
from lightway.data.identity.models import KycTierLimit, Partner
from lightway.data.money import MoneyError, currency
from lightway.interfaces.admin.base import AuditedModelAdmin

if TYPE_CHECKING:
    _LimitForm = forms.ModelForm[KycTierLimit]
else:
    _LimitForm = forms.ModelForm

SAVE_AS_NEW_HINT = (
    "To change limits in effect, edit the values, set a later “effective from” and press "
    "“Save as new”: the new row applies from that date."
)


def _in_effect(row: KycTierLimit | None) -> bool:
    return bool(row is not None and row.pk and row.effective_from <= timezone.now())


class KycTierLimitForm(_LimitForm):
    country = forms.ChoiceField(choices=[(c, c) for c in MARKETS])

    class Meta:
        model = KycTierLimit
        fields = (
            "country",
            "tier",
            "currency",
            "effective_from",
            *LIMIT_FIELDS,
            "source",
        )

    def clean_currency(self) -> str:
        code = str(self.cleaned_data.get("currency") or "").upper()
        try:
            currency(code)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None
        return code

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        now = timezone.now()
        stored = (
            KycTierLimit.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        )
        if stored is not None and _in_effect(stored):
            raise ValidationError(
                f"These limits have been in effect since "
                f"{timezone.localtime(stored.effective_from):%Y-%m-%d %H:%M}: they cannot "
                f"change. {SAVE_AS_NEW_HINT}"
            )
        start = data.get("effective_from")
        if start is not None and start <= now:
            self.add_error(
                "effective_from",
                "Must be in the future: limits cannot change in the past (the payments already "
                "checked keep the limits they were checked against).",
            )
        return data


@admin.register(KycTierLimit)
class KycTierLimitAdmin(AuditedModelAdmin):
    form = KycTierLimitForm
    save_as = True
    list_display = (
        "country",
        "tier",
        "currency",
        "effective_from",
        "per_transaction_text",
        "daily_text",
        "monthly_text",
        "max_balance_text",
        "in_effect",
        "created_by",
    )
    list_filter = ("country", "tier", "currency")
    ordering = ("country", "currency", "tier", "-effective_from")
    readonly_fields = ("created_at", "created_by")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        banner = ""
        if _in_effect(obj):
            banner = f"In effect: frozen. {SAVE_AS_NEW_HINT}"
        return (
            (None, {"fields": ("country", "tier", "currency", "effective_from")}),
            (
                "Limits (minor units; empty = no limit)",
                {
                    "fields": LIMIT_FIELDS,
                    "description": "UGX 5,000,000 is 5000000; GHS 3,000.00 is 300000. " + banner,
                },
            ),
            ("Record", {"fields": ("source", "created_at", "created_by")}),
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if _in_effect(obj):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        if not change:
            obj.created_at = timezone.now()
            obj.created_by = f"staff:{request.user.pk}"
        super().save_model(request, obj, form, change)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as exc:  # the database's freeze (a race with the clock)
            diag = getattr(exc.__cause__, "diag", None)
            if getattr(diag, "constraint_name", None) not in (
                "kyc_limit_frozen",
                "kyc_limit_one_per_start",
            ):
                raise
            reason = getattr(diag, "message_primary", None) or str(exc)
            self.message_user(
                request, f"Nothing was saved: the database refused it: {reason}", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())

    @admin.display(boolean=True, description="in effect")
    def in_effect(self, obj: KycTierLimit) -> bool:
        return _in_effect(obj)

    @admin.display(description="per transaction")
    def per_transaction_text(self, obj: KycTierLimit) -> str:
        return str(limit_row_summary(obj)["per_transaction"])

    @admin.display(description="daily")
    def daily_text(self, obj: KycTierLimit) -> str:
        return str(limit_row_summary(obj)["daily"])

    @admin.display(description="monthly")
    def monthly_text(self, obj: KycTierLimit) -> str:
        return str(limit_row_summary(obj)["monthly"])

    @admin.display(description="max balance")
    def max_balance_text(self, obj: KycTierLimit) -> str:
        return str(limit_row_summary(obj)["max_balance"])


@admin.register(Partner)
class PartnerAdmin(AuditedModelAdmin):
    """Read-only: partners are onboarded, edited, suspended and closed on the staff pages
    (/staff/partners/), which validate every field, open the prefund accounts and audit
    the change with its reason."""

    list_display = ("code", "name", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("=code", "name")
    fields = (
        "code",
        "name",
        "legal_name",
        "registration_number",
        "country",
        "address",
        "markets",
        "currencies",
        "webhook_url",
        "status",
        "status_reason",
        "status_changed_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # onboarding is on /staff/partners/new/

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # changes go through the staff pages (validated, audited)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # partners are closed, never deleted (transfers refer to them)
