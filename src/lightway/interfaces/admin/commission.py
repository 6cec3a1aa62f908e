"""Admin for fee schedules (bands and splits inline) and read-only commission records.

Importing this module registers both on ``django.contrib.admin.site``.

Versioning: once a schedule has priced a transaction its pricing is frozen (the database
refuses changes, see ``lightway.data.commission.models``). To change pricing, staff open
the schedule, edit the values, set a later "effective from" and press "Save as new": that
creates the next version with copies of the bands and splits and ends the old version when
the new one starts. The forms explain every rule the database would refuse, so a staff
mistake shows as a form error rather than a server error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone

from lightway.application.transactions.commission import fee_schedule_supersede
from lightway.data.commission.models import (
    CORRIDOR_PATTERN,
    CommissionRecord,
    FeeBand,
    FeeMethod,
    FeeSchedule,
    FeeSplit,
)
from lightway.data.commission.selectors import (
    fee_schedule_last_use,
    fee_schedule_next_version,
    fee_schedules_overlapping,
)
from lightway.data.money import Money, MoneyError, currency
from lightway.interfaces.admin.base import AuditedModelAdmin

if TYPE_CHECKING:
    _TabularInline = admin.TabularInline[Any, Any]
    _ModelForm = forms.ModelForm[FeeSchedule]
    _InlineFormSet = BaseInlineFormSet[Any, Any, Any]
else:
    _TabularInline = admin.TabularInline
    _ModelForm = forms.ModelForm
    _InlineFormSet = BaseInlineFormSet

SCOPE_FIELDS = ("transaction_kind", "currency", "corridor", "kyc_tier")
SAVE_AS_NEW_HINT = (
    "To change its pricing, edit the values, set a later “effective from” and press "
    "“Save as new”: that creates the next version and ends this one when it starts."
)


def _switch_lead() -> timedelta:
    """How far ahead a schedule in effect may be ended: well beyond the selector's cache."""
    cache_seconds = float(getattr(settings, "LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS", 0) or 0)
    return timedelta(seconds=max(60.0, 2 * cache_seconds))


def _in_effect_now(schedule: FeeSchedule) -> bool:
    now = timezone.now()
    return schedule.effective_from <= now and (
        schedule.effective_to is None or now < schedule.effective_to
    )


def _when(value: datetime | None) -> str:
    return "open-ended" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _describe(schedule: FeeSchedule) -> str:
    return (
        f"“{schedule.name}” v{schedule.version} "
        f"({_when(schedule.effective_from)} to {_when(schedule.effective_to)})"
    )


class FeeScheduleForm(_ModelForm):
    # Set by FeeScheduleAdmin.get_form when the form is a "Save as new" of that schedule.
    saveasnew_source_id: int | None = None

    class Meta:
        model = FeeSchedule
        fields = (
            "name",
            "notes",
            "transaction_kind",
            "currency",
            "corridor",
            "kyc_tier",
            "effective_from",
            "effective_to",
            "method",
            "flat_amount",
            "percentage",
            "rounding",
            "min_fee",
            "max_fee",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.superseded: FeeSchedule | None = None  # the version this one will replace

    def clean_corridor(self) -> str:
        value = (self.cleaned_data.get("corridor") or "").strip().upper()
        if not re.fullmatch(CORRIDOR_PATTERN, value):
            raise ValidationError(
                "Enter sending and receiving country codes like “GB-UG”, or leave blank."
            )
        return value

    def clean_percentage(self) -> Decimal:
        value: Decimal = self.cleaned_data["percentage"]
        if not Decimal(0) <= value <= Decimal(1):
            raise ValidationError("Enter a fraction from 0 to 1: 0.015 means 1.5%.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.instance.pk is not None:
            # Keep stored values of untouched fields exactly (the widgets drop microseconds).
            for name in self.Meta.fields:
                if name in cleaned and name not in self.changed_data:
                    cleaned[name] = getattr(self.instance, name)
        self._check_amounts(cleaned)
        self._check_period(cleaned)
        if self.instance.pk is not None:
            self._check_frozen(cleaned)
            self._check_end_lead(cleaned)
        elif self.saveasnew_source_id is not None:
            self._check_new_version(cleaned)
        self._check_overlap(cleaned)
        return cleaned

    def _check_amounts(self, cleaned: dict[str, Any]) -> None:
        for name in ("flat_amount", "min_fee", "max_fee"):
            value = cleaned.get(name)
            if value is not None and value < 0:
                self.add_error(name, "Amounts cannot be negative.")
        min_fee, max_fee = cleaned.get("min_fee"), cleaned.get("max_fee")
        if min_fee is not None and max_fee is not None and 0 <= max_fee < min_fee:
            self.add_error("max_fee", f"The maximum fee must be at least the minimum ({min_fee}).")
        method = cleaned.get("method")
        flat, pct = cleaned.get("flat_amount"), cleaned.get("percentage")
        if method in (FeeMethod.PERCENTAGE, FeeMethod.TIERED) and flat:
            self.add_error(
                "flat_amount",
                "Only flat schedules use the flat amount; set it to 0"
                + (" and put flat parts in the bands." if method == FeeMethod.TIERED else "."),
            )
        if method in (FeeMethod.FLAT, FeeMethod.TIERED) and pct:
            self.add_error(
                "percentage",
                "Only percentage schedules use the percentage; set it to 0"
                + (" and put percentages in the bands." if method == FeeMethod.TIERED else "."),
            )

    def _check_period(self, cleaned: dict[str, Any]) -> None:
        start, end = cleaned.get("effective_from"), cleaned.get("effective_to")
        if start is not None and end is not None and end <= start:
            self.add_error("effective_to", "“Effective to” must be later than “effective from”.")

    def _check_frozen(self, cleaned: dict[str, Any]) -> None:
        last_use = fee_schedule_last_use(schedule_id=self.instance.pk)
        if last_use is None:
            return
        changed = set(self.changed_data) - {"effective_to"}
        if changed:
            raise ValidationError(
                f"This schedule was last used for a transaction at {_when(last_use)}, so it can no "
                f"longer change (changed: {', '.join(sorted(changed))}). {SAVE_AS_NEW_HINT}"
            )
        if "effective_to" not in self.changed_data:
            return
        old_end, new_end = self.instance.effective_to, cleaned.get("effective_to")
        if new_end is None:
            self.add_error("effective_to", "A schedule in use cannot be reopened.")
        elif old_end is not None and new_end > old_end:
            self.add_error("effective_to", "The period of a schedule in use cannot be extended.")
        elif new_end <= last_use:
            self.add_error(
                "effective_to",
                f"This schedule priced a transaction at {_when(last_use)}; end it after that.",
            )

    def _check_end_lead(self, cleaned: dict[str, Any]) -> None:
        if "effective_to" not in self.changed_data or "effective_to" in self.errors:
            return
        new_end = cleaned.get("effective_to")
        earliest = timezone.now() + _switch_lead()
        if new_end is not None and new_end < earliest and _in_effect_now(self.instance):
            self.add_error(
                "effective_to",
                f"A schedule in effect can be ended from {_when(earliest)} at the earliest, so "
                "that every server picks up the change first.",
            )

    def _check_new_version(self, cleaned: dict[str, Any]) -> None:
        source_id = self.saveasnew_source_id
        source = None if source_id is None else FeeSchedule.objects.filter(pk=source_id).first()
        start = cleaned.get("effective_from")
        if source is None or start is None:
            return
        if any(cleaned.get(f) != getattr(source, f) for f in SCOPE_FIELDS):
            return  # another scope: a copy, not a new version of the source
        if start <= source.effective_from:
            self.add_error(
                "effective_from",
                f"A new version must start after the version it replaces, {_describe(source)}.",
            )
            return
        if source.effective_to is not None and source.effective_to <= start:
            return  # the source already ends before this version starts
        last_use = fee_schedule_last_use(schedule_id=source.pk)
        if last_use is not None and last_use >= start:
            self.add_error(
                "effective_from",
                f"{_describe(source)} was last used for a transaction at {_when(last_use)}; "
                "the new version must start after that.",
            )
            return
        earliest = timezone.now() + _switch_lead()
        if start < earliest and _in_effect_now(source):
            self.add_error(
                "effective_from",
                f"{_describe(source)} is in effect: a new version can start from "
                f"{_when(earliest)} at the earliest, so that every server picks it up first.",
            )
            return
        self.superseded = source

    def _check_overlap(self, cleaned: dict[str, Any]) -> None:
        if any(f not in cleaned for f in (*SCOPE_FIELDS, "effective_from", "effective_to")):
            return
        if cleaned["effective_from"] is None:
            return
        exclude = tuple(
            pk for pk in (self.instance.pk, getattr(self.superseded, "pk", None)) if pk is not None
        )
        clashes = fee_schedules_overlapping(
            kind=cleaned["transaction_kind"],
            currency=cleaned["currency"],
            corridor=cleaned["corridor"],
            kyc_tier=cleaned["kyc_tier"],
            effective_from=cleaned["effective_from"],
            effective_to=cleaned["effective_to"],
            exclude_ids=exclude,
        )
        if clashes:
            self.add_error(
                "effective_from",
                "The period overlaps "
                + "; ".join(_describe(s) for s in clashes)
                + " for the same kind, currency, corridor and KYC tier. End that schedule "
                "first, or open it and use “Save as new”.",
            )


def _live_forms(formset: _InlineFormSet) -> list[Any]:
    return [
        f
        for f in formset.forms
        if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")
    ]


def _refuse_changes_if_used(formset: _InlineFormSet, what: str) -> None:
    schedule = formset.instance
    if formset.save_as_new or schedule.pk is None or not formset.has_changed():
        return
    last_use = fee_schedule_last_use(schedule_id=schedule.pk)
    if last_use is not None:
        raise ValidationError(
            f"This schedule was last used for a transaction at {_when(last_use)}: "
            f"its {what} can no "
            f"longer change. {SAVE_AS_NEW_HINT}"
        )


class FeeSplitFormSet(_InlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        _refuse_changes_if_used(self, "splits")
        live = _live_forms(self)
        if not live:
            raise ValidationError(
                "Add at least one split: the fee is divided between LightWay, MTN and the "
                "partner in proportion to the weights."
            )
        parties = [f.cleaned_data["party"] for f in live]
        if len(parties) != len(set(parties)):
            raise ValidationError("Each party can have only one split.")


class FeeBandFormSet(_InlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        _refuse_changes_if_used(self, "bands")
        live = _live_forms(self)
        method = self.instance.method
        if method != FeeMethod.TIERED:
            if live:
                raise ValidationError(
                    "Bands apply only to tiered schedules: remove them or choose “Tiered bands”."
                )
            return
        if not live:
            raise ValidationError(
                "A tiered schedule needs bands covering every amount from 0 up, the last one "
                "with no upper bound."
            )
        bounds = sorted(
            (f.cleaned_data["lower_bound"], f.cleaned_data.get("upper_bound")) for f in live
        )
        expected: int | None = 0
        for lower, upper in bounds:
            if expected is None:
                raise ValidationError(
                    f"Only the last band may have no upper bound; another band starts at {lower}."
                )
            if lower != expected:
                raise ValidationError(
                    f"Bands must follow on without gap or overlap: a band starting at {expected} "
                    f"was expected, the next one starts at {lower}."
                )
            expected = upper
        if expected is not None:
            raise ValidationError(
                f"The last band must have no upper bound (add one starting at {expected})."
            )


class FeeSplitInline(_TabularInline):
    model = FeeSplit
    formset = FeeSplitFormSet
    fields = ("party", "weight")
    min_num = 0

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        return 2 if obj is None else 0


class FeeBandInline(_TabularInline):
    model = FeeBand
    formset = FeeBandFormSet
    fields = ("lower_bound", "upper_bound", "flat_amount", "percentage")
    extra = 0
    verbose_name = "band (tiered schedules only)"
    verbose_name_plural = "bands (tiered schedules only)"


def _source_of_save_as_new(request: HttpRequest) -> int | None:
    if request.method != "POST" or "_saveasnew" not in request.POST:
        return None
    match = request.resolver_match
    object_id = str(match.kwargs.get("object_id", "")) if match else ""
    return int(object_id) if object_id.isdigit() else None


@admin.register(FeeSchedule)
class FeeScheduleAdmin(AuditedModelAdmin):
    form = FeeScheduleForm
    inlines = (FeeSplitInline, FeeBandInline)
    save_as = True
    save_on_top = True
    list_display = (
        "name",
        "transaction_kind",
        "currency",
        "corridor_label",
        "tier_label",
        "method",
        "effective_from",
        "effective_to",
        "version",
        "in_use",
    )
    list_filter = ("transaction_kind", "currency", "method", "rounding")
    search_fields = ("name", "=corridor", "notes")
    ordering = ("transaction_kind", "currency", "corridor", "kyc_tier", "-effective_from")
    readonly_fields = ("version", "created_at", "last_used")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        frozen = ""
        if obj is not None and obj.pk is not None:
            last_use = fee_schedule_last_use(schedule_id=obj.pk)
            if last_use is not None:
                frozen = (
                    "In use: this schedule was last used for a transaction at "
                    f"{_when(last_use)}. Only "
                    f"“effective to” can still be set (to end it). {SAVE_AS_NEW_HINT}"
                )
        return (
            (None, {"fields": ("name", "version", "notes"), "description": frozen}),
            (
                "Scope",
                {
                    "fields": SCOPE_FIELDS,
                    "description": "The most specific schedule in effect applies: an exact "
                    "corridor beats “any corridor”, then an exact KYC tier beats “any tier”.",
                },
            ),
            (
                "Effective period",
                {
                    "fields": ("effective_from", "effective_to"),
                    "description": "From is inclusive, to is exclusive. Schedules of one scope "
                    "may not overlap.",
                },
            ),
            (
                "Pricing",
                {
                    "fields": (
                        "method",
                        "flat_amount",
                        "percentage",
                        "rounding",
                        "min_fee",
                        "max_fee",
                    ),
                    "description": "Amounts are in minor units: UGX 1,500 is 1500, GHS 0.50 is "
                    "50. Percentages are fractions: 0.015 is 1.5%. The fee is clamped to "
                    "[minimum, maximum], then split between the parties below by weight.",
                },
            ),
            ("Record", {"fields": ("created_at", "last_used")}),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[FeeSchedule]:
        used = CommissionRecord.objects.filter(schedule=OuterRef("pk"))
        qs: QuerySet[FeeSchedule] = super().get_queryset(request)
        return qs.annotate(used=Exists(used))

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        source_id = _source_of_save_as_new(request)
        if source_id is not None:
            form = type(form.__name__, (form,), {"saveasnew_source_id": source_id})
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.pk is not None:
            if fee_schedule_last_use(schedule_id=obj.pk) is not None:
                return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        with transaction.atomic():
            if not change:
                obj.created_at = timezone.now()
                superseded = getattr(form, "superseded", None)
                if superseded is not None:
                    old_end = superseded.effective_to
                    source = fee_schedule_supersede(
                        schedule_id=superseded.pk, successor_from=obj.effective_from
                    )
                    if source.effective_to != old_end:
                        self.audit_staff_action(
                            request,
                            model=FeeSchedule,
                            object_id=source.pk,
                            verb="update",
                            fields=["effective_to"],
                        )
                    obj.version = source.version + 1
                else:
                    obj.version = fee_schedule_next_version(
                        kind=obj.transaction_kind,
                        currency=obj.currency,
                        corridor=obj.corridor,
                        kyc_tier=obj.kyc_tier,
                    )
            super().save_model(request, obj, form, change)

    @admin.display(description="corridor")
    def corridor_label(self, obj: FeeSchedule) -> str:
        return obj.corridor or "any"

    @admin.display(description="KYC tier")
    def tier_label(self, obj: FeeSchedule) -> str:
        return "any" if obj.kyc_tier is None else str(obj.kyc_tier)

    @admin.display(description="in use", boolean=True)
    def in_use(self, obj: FeeSchedule) -> bool:
        return bool(getattr(obj, "used", False))

    @admin.display(description="last used")
    def last_used(self, obj: FeeSchedule) -> str:
        if obj.pk is None:
            return "never"
        last_use = fee_schedule_last_use(schedule_id=obj.pk)
        return "never" if last_use is None else _when(last_use)


@admin.register(CommissionRecord)
class CommissionRecordAdmin(AuditedModelAdmin):
    """Read-only: records are written by transactions and the database refuses changes."""

    list_display = (
        "created_at",
        "reference",
        "transaction_kind",
        "party",
        "party_ref",
        "amount_display",
        "schedule",
        "entry_id",
    )
    list_filter = ("party", "transaction_kind", "currency", "created_at")
    # Exact matches only: they use indexes on a table that grows with every transaction.
    search_fields = ("=reference", "=party_ref")
    list_select_related = ("schedule",)
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    list_per_page = 50
    actions = None
    readonly_fields = (
        "created_at",
        "reference",
        "transaction_kind",
        "party",
        "party_ref",
        "currency",
        "amount",
        "amount_display",
        "schedule",
        "entry",
    )
    fields = readonly_fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: CommissionRecord) -> str:
        try:
            return Money(obj.amount, currency(obj.currency)).format()
        except MoneyError:
            return f"{obj.currency} {obj.amount} (minor units)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
