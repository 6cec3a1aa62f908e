"""Read-only admin for the audit trail: staff can look, nobody can add, change or delete.

Importing this module registers it on ``django.contrib.admin.site``. Viewing needs the
``audit.view_auditrecord`` permission. The database refuses changes anyway (see
``lightway.data.audit.models``); this keeps the admin from offering them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from lightway.data.audit.models import AuditRecord
from lightway.interfaces.admin.base import BoundedListMixin, ReadOnlyAdminMixin, search_text

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[AuditRecord]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(AuditRecord)
class AuditRecordAdmin(BoundedListMixin, ReadOnlyAdminMixin, _ModelAdmin):
    list_display = (
        "id",
        "seq",
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "short_hash",
    )
    list_display_links = ("id",)
    # Exact matches on audit_record_object_id and audit_record_actor (base.BoundedListMixin).
    indexed_search = (("object_id", search_text(100)), ("actor", search_text(64)))
    search_help_text = "An object id (a transfer id, a user id ...) or an actor (user:12, system)."

    ordering = ("-id",)
    list_per_page = 50
    actions = None
    readonly_fields = (
        "id",
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "data",
        "seq",
        "prev_hash",
        "hash",
    )
    fields = readonly_fields

    @admin.display(description="hash")
    def short_hash(self, obj: AuditRecord) -> str:
        return f"{obj.hash[:12]}…" if obj.hash else "(unlinked)"
