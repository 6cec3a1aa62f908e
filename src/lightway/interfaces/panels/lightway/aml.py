"""AML compliance pages (docs/aml.md), included under ``staff/compliance/``:

- ``/staff/compliance/``: the alert queue, newest first, filtered by rule and case state,
  in keyset pages (``aml.cases.view``);
- ``/staff/compliance/cases/<ref>/``: a case: its alerts with their evidence, the
  transfers, the parties (masked), the timeline and the action forms; each action posts
  to its own URL with its own permission (``aml.cases.work``; approving or sending back a
  filing ``aml.filing.approve``, and never by the proposer);
- ``/staff/compliance/rules/``: the rules and every version; a form adds a version
  (``aml.rules.edit``);
- ``/staff/compliance/sanctions/``: the active sanctions list, recent hits and the upload
  form (``aml.sanctions.import``).

Views are thin: the services in ``lightway.application.aml`` decide; a refused input
comes back as the page with the form, its input kept and the message beside it (400).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lightway.application.aml import cases, sanctions
from lightway.application.aml.rules import KINDS, rule_version_add, rule_versions
from lightway.application.errors import DomainError, NotFound, ValidationFailed
from lightway.application.identity.profiles import ERASED, profile_pii
from lightway.data.aml.models import (
    CaseState,
    RuleAction,
    RuleMode,
    SanctionsHit,
    SanctionsList,
)
from lightway.data.identity.models import Profile
from lightway.data.wallets.models import Transfer
from lightway.interfaces.panels.common import apply_errors, now
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.masking import mask_name
from lightway.security.policy import Action

_INPUT = {"class": "input"}
_AREA = {"class": "input", "rows": "3"}


def _me(request: HttpRequest) -> int:
    return int(str(request.user.pk))


# --- forms ---------------------------------------------------------------------------------------


class NoteForm(AccessibleForm):
    text = forms.CharField(label="Note", max_length=cases.NOTE_MAX, widget=forms.Textarea(_AREA))


class ReasonForm(AccessibleForm):
    reason = forms.CharField(
        label="Reason", max_length=cases.NOTE_MAX, widget=forms.Textarea(_AREA)
    )


class CloseForm(AccessibleForm):
    reason = forms.CharField(
        label="Reason for closing", max_length=500, widget=forms.Textarea(_AREA)
    )


class ProposeForm(AccessibleForm):
    reason = forms.CharField(
        label="Why this is suspicious (the STR narrative)",
        max_length=cases.NOTE_MAX,
        widget=forms.Textarea(_AREA),
    )
    action = forms.CharField(
        label="What the platform did",
        max_length=300,
        widget=forms.TextInput(_INPUT),
        help_text="For example: account frozen, payment refused.",
    )


class RuleVersionForm(AccessibleForm):
    code = forms.CharField(label="Rule code", max_length=40, widget=forms.TextInput(_INPUT))
    kind = forms.ChoiceField(
        choices=[(k, f"{k}: {v.title}") for k, v in KINDS.items()],
        widget=forms.Select(attrs=_INPUT),
    )
    mode = forms.ChoiceField(choices=RuleMode.choices, widget=forms.Select(attrs=_INPUT))
    action = forms.ChoiceField(choices=RuleAction.choices, widget=forms.Select(attrs=_INPUT))
    effective_from = forms.DateTimeField(
        label="Effective from (UTC, YYYY-MM-DD HH:MM)", widget=forms.TextInput(_INPUT)
    )
    effective_to = forms.DateTimeField(
        label="Effective until (optional)", required=False, widget=forms.TextInput(_INPUT)
    )
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    parameters = forms.CharField(
        label="Parameters (JSON)",
        widget=forms.Textarea({"class": "input mono", "rows": "6"}),
        help_text='For example {"countries": {"UG": {"amount": 20000000}}}: amounts in '
        "minor units of the market's currency.",
    )
    note = forms.CharField(
        label="Note", max_length=300, required=False, widget=forms.TextInput(_INPUT)
    )

    def clean_parameters(self) -> Any:
        try:
            return json.loads(self.cleaned_data["parameters"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} (column {exc.colno})."
            ) from None


class SanctionsUploadForm(AccessibleForm):
    file = forms.FileField(
        label="UN Security Council consolidated list (XML)",
        widget=forms.ClearableFileInput(attrs={"class": "input", "accept": ".xml"}),
    )


# --- the alert queue -----------------------------------------------------------------------------


def _subject_label(subject_ref: str, profiles: dict[int, Profile]) -> str:
    if subject_ref.startswith("user:"):
        profile = profiles.get(int(subject_ref.split(":", 1)[1]))
        if profile is not None:
            return profile.subject
    return subject_ref


def _profiles(user_ids: set[int]) -> dict[int, Profile]:
    return {p.user_id: p for p in Profile.objects.filter(user_id__in=user_ids)}


@requires(Action.AML_CASES_VIEW)
@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    rule_code = request.GET.get("rule", "")[:40]
    state = request.GET.get("state", "")[:20]
    after = request.GET.get("after", "")[:200]
    status = 200
    error = ""
    try:
        page = cases.alerts_page(rule_code=rule_code, state=state, after=after)
    except ValidationFailed as exc:
        page = cases.AlertPage([], "")
        error = exc.message
        status = 400
    profiles = _profiles({a.subject_user_id for a in page.alerts if a.subject_user_id})
    rows = [{"alert": a, "subject": _subject_label(a.subject_ref, profiles)} for a in page.alerts]
    codes = sorted({v.code for v in rule_versions()})
    context = {
        "rows": rows,
        "next_cursor": page.next_cursor,
        "rule": rule_code,
        "state": state,
        "codes": codes,
        "states": CaseState.choices,
        "error": error,
    }
    return render(request, "panels/staff/aml/alerts.html", context, status=status)


# --- a case --------------------------------------------------------------------------------------


FORMS: dict[str, type[AccessibleForm]] = {
    "note": NoteForm,
    "escalate": ReasonForm,
    "propose": ProposeForm,
    "reject": ReasonForm,
    "close": CloseForm,
}


def _case_page(
    request: HttpRequest,
    reference: str,
    *,
    bound: dict[str, AccessibleForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    case = cases.case_get(reference=reference)
    found = cases.case_alerts(case)
    transfer_ids = {t for a in found for t in a.transfer_ids}
    transfers = list(
        Transfer.objects.filter(id__in=list(transfer_ids)[:200]).order_by("-created_at")
    )
    party_ids = {a.subject_user_id for a in found if a.subject_user_id}
    if case.subject_user_id:
        party_ids.add(case.subject_user_id)
    parties = []
    for profile in Profile.objects.filter(user_id__in=party_ids).order_by("user_id"):
        pii = profile_pii(profile)
        parties.append(
            {
                "subject": profile.subject,
                "country": profile.country,
                "tier": profile.get_kyc_tier_display(),
                "name": mask_name(pii.name),
            }
        )
    forms_ = {name: cls(prefix=name) for name, cls in FORMS.items()}
    forms_.update(bound or {})
    user_id = _me(request)
    timeline = cases.case_timeline(case)
    context = {
        "case": case,
        "alerts": [
            {"alert": a, "evidence": json.dumps(a.evidence, indent=2, sort_keys=True)}
            for a in found
        ],
        "transfers": transfers,
        "parties": parties,
        "timeline": timeline,
        "str_event": cases.case_str_status(timeline),
        "forms": forms_,
        "is_proposer": case.proposed_by_id == user_id,
        "open": case.state in cases.OPEN_STATES,
        "closed": case.state == CaseState.CLOSED,
    }
    return render(request, "panels/staff/aml/case.html", context, status=status)


@requires(Action.AML_CASES_VIEW)
@require_GET
def case_detail(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        return _case_page(request, reference)
    except NotFound:
        return render(
            request, "panels/staff/aml/not_found.html", {"reference": reference[:20]}, status=404
        )


def _case_action(
    name: str, run: Callable[..., object], done: str
) -> Callable[[HttpRequest, str], HttpResponse]:
    def view(request: HttpRequest, reference: str) -> HttpResponse:
        form_class = FORMS.get(name)
        # each form of the page has its own prefix (unique ids: "close-reason", ...)
        form = form_class(request.POST, prefix=name) if form_class else None
        url = f"/staff/compliance/cases/{reference}/"
        try:
            cases.case_get(reference=reference)
        except NotFound:
            return render(
                request,
                "panels/staff/aml/not_found.html",
                {"reference": reference[:20]},
                status=404,
            )
        if form is not None and not form.is_valid():
            return _case_page(request, reference, bound={name: form}, status=400)
        try:
            run(
                reference=reference,
                actor_id=_me(request),
                now=now(),
                **(form.cleaned_data if form is not None else {}),
            )
        except DomainError as exc:
            if form is None:
                messages.error(request, exc.message)
                return _case_page(request, reference, status=409)
            apply_errors(form, exc, default_field=next(iter(form.fields)))
            return _case_page(request, reference, bound={name: form}, status=400)
        messages.success(request, done)
        return HttpResponseRedirect(url)

    view.__name__ = f"case_{name}"
    return view


def _assign_self(*, reference: str, actor_id: int, now: Any) -> object:
    return cases.case_assign(reference=reference, assignee_id=actor_id, actor_id=actor_id, now=now)


def _approve(*, reference: str, actor_id: int, now: Any) -> object:
    return cases.case_approve_filing(reference=reference, actor_id=actor_id, now=now)


def _propose(*, reference: str, actor_id: int, now: Any, reason: str, action: str) -> object:
    return cases.case_propose_filing(
        reference=reference, reason=reason, action=action, actor_id=actor_id, now=now
    )


case_assign = requires(Action.AML_CASES_WORK)(
    require_POST(_case_action("assign", _assign_self, "The case is assigned to you."))
)
case_note = requires(Action.AML_CASES_WORK)(
    require_POST(_case_action("note", cases.case_note, "Note added."))
)
case_escalate = requires(Action.AML_CASES_WORK)(
    require_POST(_case_action("escalate", cases.case_escalate, "Case escalated."))
)
case_propose = requires(Action.AML_CASES_WORK)(
    require_POST(
        _case_action(
            "propose", _propose, "STR filing proposed: another compliance officer must approve it."
        )
    )
)
case_approve = requires(Action.AML_FILING_APPROVE)(
    require_POST(_case_action("approve", _approve, "STR filing approved."))
)
case_reject = requires(Action.AML_FILING_APPROVE)(
    require_POST(_case_action("reject", cases.case_reject_filing, "Filing sent back."))
)
case_close = requires(Action.AML_CASES_WORK)(
    require_POST(_case_action("close", cases.case_close, "Case closed."))
)


# --- rules ---------------------------------------------------------------------------------------


def _rules_page(
    request: HttpRequest, form: RuleVersionForm | None = None, status: int = 200
) -> HttpResponse:
    context = {"versions": rule_versions(), "form": form or RuleVersionForm(), "kinds": KINDS}
    return render(request, "panels/staff/aml/rules.html", context, status=status)


@requires(Action.AML_RULES_VIEW)
@require_GET
def rules(request: HttpRequest) -> HttpResponse:
    return _rules_page(request)


@requires(Action.AML_RULES_EDIT)
@require_http_methods(["POST"])
def rule_add(request: HttpRequest) -> HttpResponse:
    form = RuleVersionForm(request.POST)
    if not form.is_valid():
        return _rules_page(request, form, status=400)
    data = form.cleaned_data
    try:
        version = rule_version_add(
            code=data["code"],
            kind=data["kind"],
            mode=data["mode"],
            action=data["action"],
            effective_from=data["effective_from"],
            effective_to=data["effective_to"],
            enabled=data["enabled"],
            parameters=data["parameters"],
            note=data["note"],
            actor_id=_me(request),
            now=now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="parameters")
        return _rules_page(request, form, status=400)
    messages.success(request, f"Rule {version.code} version {version.version} added.")
    return HttpResponseRedirect("/staff/compliance/rules/")


# --- sanctions -----------------------------------------------------------------------------------


def _hit_name(hit: SanctionsHit) -> str:
    name = sanctions.hit_subject_name(hit)
    return ERASED if name is None else mask_name(name)


def _sanctions_page(
    request: HttpRequest, form: SanctionsUploadForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "active": sanctions.active_list(),
        "lists": list(SanctionsList.objects.order_by("-id")[:10]),
        # the subject's name (sealed at rest) masked, as every customer's personal data on
        # staff pages; "erased" once retention erased the person
        "hits": [
            {"hit": hit, "subject_name": _hit_name(hit)}
            for hit in SanctionsHit.objects.select_related("entry").order_by("-id")[:50]
        ],
        "form": form or SanctionsUploadForm(),
    }
    return render(request, "panels/staff/aml/sanctions.html", context, status=status)


@requires(Action.AML_CASES_VIEW)
@require_GET
def sanctions_page(request: HttpRequest) -> HttpResponse:
    return _sanctions_page(request)


@requires(Action.AML_SANCTIONS_IMPORT)
@require_POST
def sanctions_upload(request: HttpRequest) -> HttpResponse:
    form = SanctionsUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _sanctions_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    if upload.size > sanctions.MAX_FILE_BYTES:
        form.add_error("file", "The file is too large.")
        return _sanctions_page(request, form, status=400)
    try:
        listed = sanctions.sanctions_import(
            data=upload.read(), file_name=upload.name, now=now(), actor_id=_me(request)
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="file")
        return _sanctions_page(request, form, status=400)
    sanctions.customers_screen_enqueue()
    messages.success(
        request,
        f"Imported {listed.entries} entries. Every customer is being screened against the new"
        " list (a background job); hits appear below and in the alert queue.",
    )
    return HttpResponseRedirect("/staff/compliance/sanctions/")


compliance_patterns = [
    path("", alerts, name="staff-compliance"),
    path("rules/", rules, name="staff-compliance-rules"),
    path("rules/add/", rule_add, name="staff-compliance-rule-add"),
    path("sanctions/", sanctions_page, name="staff-compliance-sanctions"),
    path("sanctions/upload/", sanctions_upload, name="staff-compliance-sanctions-upload"),
    path("cases/<str:reference>/", case_detail, name="staff-compliance-case"),
    path("cases/<str:reference>/assign/", case_assign, name="staff-compliance-case-assign"),
    path("cases/<str:reference>/note/", case_note, name="staff-compliance-case-note"),
    path("cases/<str:reference>/escalate/", case_escalate, name="staff-compliance-case-escalate"),
    path("cases/<str:reference>/propose/", case_propose, name="staff-compliance-case-propose"),
    path("cases/<str:reference>/approve/", case_approve, name="staff-compliance-case-approve"),
    path("cases/<str:reference>/reject/", case_reject, name="staff-compliance-case-reject"),
    path("cases/<str:reference>/close/", case_close, name="staff-compliance-case-close"),
]
