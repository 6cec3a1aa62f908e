"""Admin base class that writes every staff change to the audit trail.

Subclass :class:`AuditedModelAdmin` instead of ``admin.ModelAdmin`` for every admin page
that can change data. Each create, update or delete made through the admin (change form,
inlines, list_editable, the delete view and the "delete selected" action) writes one audit
record per object, in the same database transaction as the change:

- actor ``"staff:<user id>"``;
- action ``"<app_label>.<model_name>.create|update|delete"``;
- object_type ``"<app_label>.<model_name>"``, object_id the primary key;
- data ``{"fields": [<changed field names>]}``: names only, never values, so personal
  fields can be audited without copying personal data into the chain.

Custom admin actions that change data (``queryset.update()`` and the like) are not seen by
these hooks: call :meth:`AuditedModelAdmin.audit_staff_action` from them, inside their
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import router, transaction
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from lightway.data.audit.services import audit_record

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
    _Paginator = Paginator[Any]
else:
    _ModelAdmin = admin.ModelAdmin
    _Paginator = Paginator


def staff_actor(request: HttpRequest) -> str:
    """The audit actor for the signed-in staff user of ``request``."""
    user_id = getattr(request.user, "pk", None)
    if user_id is None:
        raise PermissionError("admin changes need a signed-in staff user")
    return f"staff:{user_id}"


class AtLeast(int):
    """A capped count: behaves as the cap in arithmetic, reads "10000+" on the page."""

    def __str__(self) -> str:
        return f"{int(self)}+"


class CappedCountPaginator(_Paginator):
    """Django's paginator counts every matching row (``SELECT count(*)``) on each page
    view, which on the ledger, transfer, job and audit tables reads the whole history.
    This one counts at most ``LIGHTWAY_ADMIN_COUNT_CAP`` rows (``SELECT count(*) FROM
    (... LIMIT cap + 1)``) and shows "cap+" beyond that, so a page costs the same however
    large the table is, and the deepest page (the largest OFFSET) is bounded by the cap
    too. Narrow a long list with its filters or search."""

    @cached_property
    def count(self) -> int:
        cap = int(settings.LIGHTWAY_ADMIN_COUNT_CAP)
        items = self.object_list
        if not isinstance(items, QuerySet):
            return len(items)
        # Only the ids, unordered: the count needs no annotation (an account's balance
        # from its checkpoints, say) and no sort, which it otherwise computes for up to
        # ``cap`` rows it does not show.
        found = items.order_by().values("pk")[: cap + 1].count()
        return AtLeast(cap) if found > cap else found


# How a search term is read for one column: the value to compare, or None when the term
# cannot be a value of that column (then the column is not searched at all).
SearchParse = Callable[[str], object | None]


def search_text(max_length: int) -> SearchParse:
    """The term as it is, when it fits the column."""
    return lambda term: term if 0 < len(term) <= max_length else None


def search_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def search_int(term: str) -> int | None:
    return int(term) if term.isdigit() and len(term) < 19 else None


class BoundedListMixin:
    """Admin lists whose cost does not grow with the table: a capped count, no second
    count of the unfiltered table (``show_full_result_count``), and a search that is an
    index lookup.

    Django's ``search_fields`` compile ``"=col"`` to ``UPPER(col) = UPPER(term)`` for every
    column, OR-ed: no index serves that, so each search read the whole table, twice (the
    list and its count). Lists here declare ``indexed_search`` instead: (lookup, parse)
    pairs, each an exact, case-sensitive comparison on an indexed column, tried only when
    ``parse`` accepts the term (a UUID column only for a UUID, an id only for digits), so
    the plan is a few index probes whatever the table's size (docs/performance.md).
    ``search_fields`` is derived from it (Django shows the search box when it is set)."""

    paginator: ClassVar[type] = CappedCountPaginator
    show_full_result_count: ClassVar[bool] = False
    list_per_page: ClassVar[int] = 50
    indexed_search: ClassVar[tuple[tuple[str, SearchParse], ...]] = ()

    def get_search_fields(self, request: HttpRequest) -> list[str] | tuple[str, ...]:
        if self.indexed_search:
            return tuple(lookup for lookup, _parse in self.indexed_search)
        fields: list[str] | tuple[str, ...] = super().get_search_fields(request)  # type: ignore[misc]
        return fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not self.indexed_search:
            return super().get_search_results(  # type: ignore[misc,no-any-return]
                request, queryset, search_term
            )
        term = search_term.strip()
        if not term:
            return queryset, False
        wanted = Q()
        for lookup, parse in self.indexed_search:
            value = parse(term)
            if value is not None:
                wanted |= Q(**{lookup: value})
        if not wanted:
            return queryset.none(), False
        return queryset.filter(wanted), False


def fixed_choices_filter(
    field: str,
    title: str,
    values: Sequence[tuple[str, str]] | Callable[[], Sequence[tuple[str, str]]],
) -> type[admin.SimpleListFilter]:
    """A list filter offering ``values`` (or what ``values()`` returns) for ``field``.
    Django's default filter for a field without choices lists ``SELECT DISTINCT field``
    of the whole table on every page view."""

    class FixedChoicesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> Sequence[tuple[str, str]]:
            return values() if callable(values) else values

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    FixedChoicesFilter.title = title
    return FixedChoicesFilter


class AuditedModelAdmin(BoundedListMixin, _ModelAdmin):
    """A ModelAdmin whose saves and deletes are written to the audit trail atomically."""

    def audit_staff_action(
        self,
        request: HttpRequest,
        *,
        model: type[Model],
        object_id: object,
        verb: str,
        fields: Iterable[str] = (),
    ) -> None:
        """Write one audit record for a staff ``verb`` on one object (names, not values)."""
        opts = model._meta
        audit_record(
            actor=staff_actor(request),
            action=f"{opts.app_label}.{opts.model_name}.{verb}",
            object_type=f"{opts.app_label}.{opts.model_name}",
            object_id=str(object_id),
            data={"fields": sorted(set(fields))},
            now=timezone.now(),
        )

    def _atomic(self, model: type[Model]) -> transaction.Atomic:
        return transaction.atomic(using=router.db_for_write(model))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        with self._atomic(type(obj)):
            super().save_model(request, obj, form, change)
            changed = list(getattr(form, "changed_data", []) or [])
            self.audit_staff_action(
                request,
                model=type(obj),
                object_id=obj.pk,
                verb="update" if change else "create",
                fields=changed,
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        object_id = obj.pk  # deleting clears it
        with self._atomic(type(obj)):
            super().delete_model(request, obj)
            self.audit_staff_action(request, model=type(obj), object_id=object_id, verb="delete")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        model = queryset.model
        with self._atomic(model):
            selected = list(queryset.values_list("pk", flat=True))
            # Lock what is about to go, in a stable order, so the audit names exactly the
            # rows this transaction deletes.
            locked = list(
                model._base_manager.using(queryset.db)
                .filter(pk__in=selected)
                .order_by("pk")
                .select_for_update()
                .values_list("pk", flat=True)
            )
            super().delete_queryset(request, queryset)
            for object_id in locked:
                self.audit_staff_action(request, model=model, object_id=object_id, verb="delete")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: Any) -> None:
        """Inline changes: one record per created, changed or deleted inline object."""
        model = formset.model
        deleted = [
            f.instance.pk
            for f in getattr(formset, "deleted_forms", [])
            if f.instance.pk is not None
        ]
        with self._atomic(model):
            super().save_formset(request, form, formset, change)
            for obj in formset.new_objects:
                fields = [
                    name for f in formset.forms if f.instance is obj for name in f.changed_data
                ]
                self.audit_staff_action(
                    request, model=model, object_id=obj.pk, verb="create", fields=fields
                )
            for obj, fields in formset.changed_objects:
                self.audit_staff_action(
                    request, model=model, object_id=obj.pk, verb="update", fields=fields
                )
            for object_id in deleted:
                self.audit_staff_action(request, model=model, object_id=object_id, verb="delete")


class ReadOnlyAdminMixin:
    """For pages that show records and change nothing (ledger, commission records, the
    audit trail): no add, change or delete, whatever the user's permissions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
