"""The audit-log viewer for compliance officers: /staff/audit/ (filters, keyset pages, chain
status), /staff/audit/<id>/ (one record, data masked) and /staff/audit/export.csv (the
filtered selection, bounded, masked, audited with its SHA-256).

Thin: the form reads the filters, ``lightway.data.audit.browse`` pages, and
``lightway.application.audit`` does the status, the masking and the export. Every page view
is itself audited (``data_access.view``/``search``: one record per view).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from django import forms
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from lightway.application.audit.access import audit_data_access
from lightway.application.audit.viewer import (
    EXPORT_MAX,
    audit_export_csv,
    chain_status,
    masked_json,
)
from lightway.data.audit.browse import (
    AuditFilter,
    Cursor,
    audit_action_exists,
    audit_actions,
    audit_page,
    audit_record_get,
)
from lightway.interfaces.panels.access import requires
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.security.policy import Action, allows, user_roles

PAGE_SIZE = 50


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


def _pattern_field(
    label: str, *, regex: str, invalid: str, max_length: int = 100, help_text: str = ""
) -> forms.RegexField:
    """An optional exact-match filter typed as text, checked against ``regex``."""
    return forms.RegexField(
        label=label,
        help_text=help_text,
        required=False,
        max_length=max_length,
        regex=regex,
        error_messages={"invalid": invalid},
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )


def _utc_time_field(label: str) -> forms.DateTimeField:
    """An optional UTC date (and time) typed as text."""
    return forms.DateTimeField(
        label=label,
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        error_messages={"invalid": "Write a date like 2026-11-24 or 2026-11-24T09:30."},
        help_text="2026-11-24 or 2026-11-24T09:30.",
        # A text box, not a date picker: what was typed comes back as typed, even when wrong.
        widget=forms.DateTimeInput(
            attrs=_input(autocomplete="off", inputmode="numeric"), format="%Y-%m-%dT%H:%M"
        ),
    )


class AuditFilterForm(AccessibleForm):
    actor = _pattern_field(
        "Actor",
        help_text="Exactly as recorded: staff:3, user:12, partner:7, system.",
        max_length=64,
        regex=r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.\-]+)?$",
        invalid="Write an actor like staff:3, user:12 or system.",
    )
    action = forms.CharField(
        label="Action",
        help_text="One action, e.g. pii.reveal or transfer.create.",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs=_input(autocomplete="off", list="audit-actions")),
    )
    object_type = _pattern_field(
        "Object type",
        regex=r"^[a-z0-9_\-]+(\.[a-z0-9_\-]+)*$",
        invalid="Write an object type like transfer or identity.profile.",
    )
    object_id = _pattern_field(
        "Object id",
        help_text="Needs the object type.",
        regex=r"^[\x21-\x7e]+$",
        invalid="An object id has no spaces.",
    )
    since = _utc_time_field("From (UTC)")
    until = _utc_time_field("Until (UTC, not included)")

    def clean_action(self) -> str:
        action = str(self.cleaned_data.get("action") or "").strip()
        if action and not audit_action_exists(action):
            raise forms.ValidationError(
                "No record has this action. Pick one from the list (the suggestions)."
            )
        return action

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("object_id") and not data.get("object_type"):
            self.add_error("object_type", "Give the object type of this object id.")
        since, until = data.get("since"), data.get("until")
        for name, value in (("since", since), ("until", until)):
            if isinstance(value, datetime):
                data[name] = value.replace(tzinfo=UTC) if timezone.is_naive(value) else value
        since, until = data.get("since"), data.get("until")
        if isinstance(since, datetime) and isinstance(until, datetime) and since >= until:
            self.add_error("until", "The end comes after the start.")
        return data

    def filters(self) -> AuditFilter:
        d = self.cleaned_data
        return AuditFilter(
            actor=d.get("actor") or "",
            action=d.get("action") or "",
            object_type=d.get("object_type") or "",
            object_id=d.get("object_id") or "",
            since=d.get("since"),
            until=d.get("until"),
        )


def cursor_encode(cursor: Cursor) -> str:
    at, record_id = cursor
    raw = f"{at.astimezone(UTC).isoformat()}|{record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(raw: str) -> Cursor | None:
    """The page cursor, or None when it is missing or not one of ours."""
    if not raw or len(raw) > 120:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        at, _sep, record_id = text.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            return None
        return when, int(record_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _query(request: HttpRequest) -> str:
    kept = request.GET.copy()
    kept.pop("before", None)
    return kept.urlencode()


@requires(Action.AUDIT_VIEW)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    roles = user_roles(request.user)
    context: dict[str, object] = {
        "form": form,
        "status": chain_status(),
        "actions": audit_actions(),
        "can_export": allows(roles, Action.AUDIT_EXPORT),
        "export_max": EXPORT_MAX,
        "page": None,
        "query": _query(request),
    }
    if form.is_bound and not form.is_valid():
        return _no_store(render(request, "panels/staff/audit/list.html", context, status=400))
    filters = form.filters() if form.is_bound else AuditFilter()
    raw_cursor = str(request.GET.get("before", ""))
    cursor = cursor_decode(raw_cursor)
    if raw_cursor and cursor is None:
        form.add_error(None, "That page link is not valid any more. Start from the newest.")
        return _no_store(render(request, "panels/staff/audit/list.html", context, status=400))
    page = audit_page(filters, cursor, limit=PAGE_SIZE)
    audit_data_access(
        actor=_actor(request),
        kind="search",
        what="audit.list",
        rows=len(page.records),
        details={"filters": filters.as_dict()},
        now=timezone.now(),
    )
    context.update(
        page=page,
        first=cursor is None,
        next_cursor=cursor_encode(page.next_cursor) if page.next_cursor else "",
    )
    return _no_store(render(request, "panels/staff/audit/list.html", context))


@requires(Action.AUDIT_VIEW)
@require_GET
def audit_detail(request: HttpRequest, record_id: int) -> HttpResponse:
    record = audit_record_get(record_id)
    if record is None:
        return _no_store(
            render(request, "panels/staff/audit/detail.html", {"missing": record_id}, status=404)
        )
    audit_data_access(
        actor=_actor(request),
        kind="view",
        what="audit.record",
        rows=1,
        object_type="audit.record",
        object_id=str(record.pk),
        now=timezone.now(),
    )
    context = {"record": record, "data": masked_json(record.data)}
    return _no_store(render(request, "panels/staff/audit/detail.html", context))


@requires(Action.AUDIT_EXPORT)
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        context = {
            "form": form,
            "status": chain_status(),
            "actions": audit_actions(),
            "can_export": True,
            "export_max": EXPORT_MAX,
            "page": None,
            "query": _query(request),
        }
        return _no_store(render(request, "panels/staff/audit/list.html", context, status=400))
    lines = audit_export_csv(
        filters=form.filters(), actor=_actor(request), now=timezone.now(), clock=timezone.now
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]
