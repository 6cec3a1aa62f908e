"""Admin for fee schedules (bands and splits inline) and read-only commission records.

Importing this module registers both on ``django.contrib.admin.site``.

Versioning: once a schedule's period has started, or it has priced a transaction, it is
frozen: the database refuses any change to its pricing, scope, splits or bands and its
deletion (see ``lightway.data.commission.models``); all that is left is to end its period,
at a time not in the past (after its last use, if used). Processes cache schedules for a few
seconds, so the admin is stricter by a lead time (a minute, or twice the cache lifetime):
it also treats a schedule starting within that time as frozen, and ends a schedule in
effect that far ahead at the earliest. To change pricing, staff open the schedule, edit the
values, set a later "effective from" and press "Save as new": that creates the next version
with copies of the bands and splits and ends the old version when the new one starts. The
forms explain every rule the database would refuse, so a staff mistake shows as a form
error rather than a server error; should the database still refuse (a race), the page
comes back with its message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from lightway.application.errors import ValidationFailed
from lightway.application.transactions.commission import fee_schedule_supersede
from lightway.data.commission.models import (
    CORRIDOR_PATTERN,
    SCHEDULE_CHANGE_LEAD,
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
from lightway.data.commission.services import commission_refusal
from lightway.data.money import Money, MoneyError, currency
from lightway.interfaces.admin.base import AuditedModelAdmin, ReadOnlyAdminMixin, search_text

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
FROZEN_WHY = (
    "a transaction may be priced with it at any moment, and its commission records must keep "
    "citing what it was charged"
)


def _switch_lead() -> timedelta:
    """How far ahead of a switch the admin must be: well beyond the selector's cache, and
    twice the database's own lead, so that what the form accepts the database accepts too
    when the transaction commits."""
    cache_seconds = float(getattr(settings, "LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS", 0) or 0)
    return max(2 * SCHEDULE_CHANGE_LEAD, timedelta(seconds=2 * cache_seconds))


def _earliest_switch() -> datetime:
    """The earliest time a schedule in effect may end (or be replaced), on a whole minute so
    that the time shown to staff is exactly the one accepted."""
    at = timezone.now() + _switch_lead()
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + timedelta(minutes=1)


def _when(value: datetime | None, *, seconds: bool = False) -> str:
    if value is None:
        return "open-ended"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class _Frozen:
    """Why a stored schedule can no longer change, beyond ending its period."""

    why: str  # completes "This schedule ..."
    last_use: datetime | None
    earliest_end: datetime  # the earliest "effective to" accepted (also after last_use)
    over: bool  # its period has ended: nothing at all can change


def _frozen(schedule_id: int | None) -> _Frozen | None:
    """None when the stored schedule may still be edited or deleted: unused, and starting
    later than the lead time from now. The database freezes it from its start; the lead
    covers servers that cached it and the clocks of this server and the database."""
    if schedule_id is None:
        return None
    stored = (
        FeeSchedule.objects.filter(pk=schedule_id)
        .values_list("effective_from", "effective_to")
        .first()
    )
    if stored is None:
        return None
    start, end = stored
    last_use = fee_schedule_last_use(schedule_id=schedule_id)
    now, earliest = timezone.now(), _earliest_switch()
    if last_use is not None:
        why = f"was last used for a transaction at {_when(last_use)}"
    elif end is not None and end <= now:
        why = f"was in effect from {_when(start)} to {_when(end)}"
    elif start <= now:
        why = f"has been in effect since {_when(start)}"
    elif start < earliest:
        why = (
            f"takes effect at {_when(start, seconds=True)}, too soon for a change to reach "
            "every server first"
        )
    else:
        return None
    over = end is not None and end <= now
    return _Frozen(why=why, last_use=last_use, earliest_end=earliest, over=over)


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
        frozen = _frozen(self.instance.pk)
        if frozen is None:
            start = cleaned.get("effective_from")
            earliest = _earliest_switch()
            if "effective_from" in self.changed_data and start is not None and start < earliest:
                self.add_error(
                    "effective_from",
                    f"Other servers may already hold this schedule: it can be moved to start "
                    f"from {_when(earliest)} at the earliest.",
                )
            return
        changed = [name for name in self.changed_data if name != "effective_to"]
        if changed:
            labels = sorted(str(self.fields[name].label or name).lower() for name in changed)
            raise ValidationError(
                f"This schedule {frozen.why}, so it can no longer change (changed: "
                f"{', '.join(labels)}): {FROZEN_WHY}. Only “effective to” can still be set, "
                f"to end it. {SAVE_AS_NEW_HINT}"
            )
        if "effective_to" not in self.changed_data or "effective_to" in self.errors:
            return
        old_end, new_end = self.instance.effective_to, cleaned.get("effective_to")
        if frozen.over:
            problem = f"This schedule {frozen.why}: its period is over and cannot change."
        elif new_end is None:
            problem = f"This schedule {frozen.why}: its period can be ended, not reopened."
        elif old_end is not None and new_end > old_end:
            problem = f"This schedule {frozen.why}: its period can be ended earlier, not extended."
        elif frozen.last_use is not None and new_end <= frozen.last_use:
            problem = (
                f"This schedule priced a transaction at {_when(frozen.last_use, seconds=True)}; "
                "end it after that."
            )
        elif new_end < frozen.earliest_end:
            problem = (
                f"This schedule {frozen.why}: it can be ended from "
                f"{_when(frozen.earliest_end)} at the earliest, so that every server picks up "
                "the change first."
            )
        else:
            return
        self.add_error("effective_to", problem)

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
        frozen = _frozen(source.pk)
        if frozen is not None and start < frozen.earliest_end:
            self.add_error(
                "effective_from",
                f"{_describe(source)} {frozen.why}: a new version can start from "
                f"{_when(frozen.earliest_end)} at the earliest, so that every server picks it "
                "up first.",
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


def _refuse_changes_if_frozen(formset: _InlineFormSet, what: str) -> None:
    schedule = formset.instance
    if formset.save_as_new or schedule.pk is None or not formset.has_changed():
        return
    frozen = _frozen(schedule.pk)  # the stored schedule, not the values posted with it
    if frozen is not None:
        raise ValidationError(
            f"This schedule {frozen.why}: its {what} can no longer change. {SAVE_AS_NEW_HINT}"
        )


class FeeSplitFormSet(_InlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        _refuse_changes_if_frozen(self, "splits")
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
        _refuse_changes_if_frozen(self, "bands")
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
        banner = ""
        frozen = _frozen(getattr(obj, "pk", None))
        if frozen is not None:
            after_use = "" if frozen.last_use is None else ", and after its last use"
            banner = (
                f"Frozen: this schedule {frozen.why}, so its pricing, scope, splits and bands "
                f"can no longer change and it cannot be deleted: {FROZEN_WHY}. Only “effective "
                f"to” can still be set, to end it from {_when(frozen.earliest_end)} at the "
                f"earliest{after_use}. {SAVE_AS_NEW_HINT}"
            )
        return (
            (None, {"fields": ("name", "version", "notes"), "description": banner}),
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
        # The newest record of each schedule, one entry from the end of the index
        # commission_rec_schedule_time (schedule, created_at). Not EXISTS: with a handful of
        # schedules the planner expects hundreds of thousands of records each and reads the
        # table until it meets one, which for a schedule never used is the whole table, per
        # row (3.5 s on 600,000 records); the ordered LIMIT 1 only an index serves cheaply.
        newest = (
            CommissionRecord.objects.filter(schedule=OuterRef("pk"))
            .order_by("-created_at")
            .values("created_at")[:1]
        )
        qs: QuerySet[FeeSchedule] = super().get_queryset(request)
        return qs.annotate(newest_record=Subquery(newest))

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        source_id = _source_of_save_as_new(request)
        if source_id is not None:
            form = type(form.__name__, (form,), {"saveasnew_source_id": source_id})
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and _frozen(obj.pk) is not None:
            return False
        return super().has_delete_permission(request, obj)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        frozen = _frozen(int(object_id)) if str(object_id).isdigit() else None
        if frozen is not None and super().has_delete_permission(request):
            self.message_user(
                request,
                f"This fee schedule cannot be deleted: it {frozen.why}, and a transaction may "
                "be priced with it at any moment. To stop it applying, set its “effective "
                "to”; to change its pricing, use “Save as new”.",
                messages.ERROR,
            )
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:commission_feeschedule_change", args=[object_id])
            )
        return self._explain_refusals(
            request,
            lambda: super(FeeScheduleAdmin, self).delete_view(request, object_id, extra_context),
        )

    def get_deleted_objects(
        self, objs: Sequence[Any] | QuerySet[Any], request: HttpRequest
    ) -> tuple[list[Any], dict[Any, Any], set[Any], list[Any]]:
        """The "delete selected" action: list each frozen schedule as protected, with why."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refused = [
            f"{obj}: it {frozen.why}, so it cannot be deleted (set its “effective to” to end it)"
            for obj in objs
            if (frozen := _frozen(obj.pk)) is not None
        ]
        if refused and super().has_delete_permission(request):
            perms_needed.discard(str(FeeSchedule._meta.verbose_name))
            protected = [*refused, *protected]
        return deleted, counts, perms_needed, protected

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return self._explain_refusals(
            request,
            lambda: super(FeeScheduleAdmin, self).changeform_view(
                request, object_id, form_url, extra_context
            ),
        )

    def _explain_refusals(
        self, request: HttpRequest, view: Callable[[], HttpResponse]
    ) -> HttpResponse:
        """Should the database refuse a change the form let through (a race with a
        transaction, or clocks apart by more than the lead time), the view's transaction is
        rolled back; show its reason on the page instead of a server error."""
        try:
            return view()
        except (IntegrityError, ValidationFailed) as exc:
            if isinstance(exc, ValidationFailed):
                reason = exc.message
            else:
                refusal = commission_refusal(exc)
                if refusal is None:
                    raise
                reason = refusal.message
            self.message_user(
                request,
                f"Nothing was saved: the database refused the change: {reason}.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())

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
        return getattr(obj, "newest_record", None) is not None

    @admin.display(description="last used")
    def last_used(self, obj: FeeSchedule) -> str:
        if obj.pk is None:
            return "never"
        last_use = fee_schedule_last_use(schedule_id=obj.pk)
        return "never" if last_use is None else _when(last_use)


@admin.register(CommissionRecord)
class CommissionRecordAdmin(ReadOnlyAdminMixin, AuditedModelAdmin):
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
    # An exact match on commission_rec_reference (base.BoundedListMixin); the party is a
    # filter. Newest first and the date filter through commission_rec_created.
    indexed_search = (("reference", search_text(64)),)
    search_help_text = "A transfer id (the record's reference)."

    list_select_related = ("schedule",)
    ordering = ("-created_at", "-id")
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
