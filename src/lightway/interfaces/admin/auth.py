"""Audited admin pages for staff accounts, groups and background jobs.

Importing this module removes every second-factor page django-otp registers (a device's
key and QR code were readable there, and confirmed devices could be added, unaudited), and
replaces three admin pages that other packages register on ``django.contrib.admin.site``
and that wrote nothing to the audit trail:

- ``auth.User`` (Django's ``UserAdmin``) and ``auth.Group`` (``GroupAdmin``): the same pages,
  now :class:`~lightway.interfaces.admin.base.AuditedModelAdmin` subclasses. Every create,
  update and delete writes one record (actor ``staff:<id>``, action
  ``auth.user.create|update|delete``, data ``{"fields": [<changed field names>]}``: names,
  never values), so making someone superuser shows up as ``["is_superuser"]``. The password
  form (``<id>/password/``) writes ``auth.user.password_change`` with ``{"fields":
  ["password"]}``, in the same transaction as the new hash, and ends every API session of
  the account (``authentication.passwords.password_changed``: a reset, the customer told).
- ``procrastinate.ProcrastinateJob`` (procrastinate's ``ProcrastinateJobAdmin``): still
  read-only (no add, change or delete), but its three actions (Retry, Cancel, Abort) are
  re-implemented here rather than wrapped: procrastinate's versions go through the
  procrastinate app's connector, which need not be Django's connection (so a transaction
  around them would not cover the change), and ignore whether each job really changed.
  Ours lock the selected jobs (``FOR UPDATE``, in id order), change them through a job
  manager bound to Django's connection, and write one audit record per job that changed
  (action ``procrastinate.procrastinatejob.retry|cancel|abort``, data the task name and
  the status it had; never the job's arguments), all in one transaction: the change and
  its record commit together or not at all. Running them needs
  ``procrastinate.change_procrastinatejob`` (procrastinate's own actions needed only the
  view permission).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import procrastinate.contrib.django.admin as procrastinate_admin
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.manager import JobManager

from lightway.application.authentication.passwords import password_changed
from lightway.data.audit.services import audit_record
from lightway.interfaces.admin.base import (
    AuditedModelAdmin,
    fixed_choices_filter,
    search_text,
    staff_actor,
)

if TYPE_CHECKING:
    _UserAdmin = UserAdmin[User]
else:
    _UserAdmin = UserAdmin

# The user creation form's password inputs, audited under the model field they set.
_PASSWORD_FORM_FIELDS = {"password1", "password2", "usable_password"}


class AuditedUserAdmin(AuditedModelAdmin, _UserAdmin):
    """Django's user admin; every change, and every password change, is audited.

    No personal data in the list: ``auth_user`` keeps none (customers are listed by their
    opaque subject; staff email and name live encrypted in the profile), so neither the
    columns nor the search offer email or names.
    """

    list_display = ("username", "is_active", "is_staff", "last_login", "date_joined")
    indexed_search = (("username", search_text(150)),)  # the unique index, case as typed
    search_help_text = "A username, exactly."

    def audit_staff_action(
        self,
        request: HttpRequest,
        *,
        model: type[Model],
        object_id: object,
        verb: str,
        fields: Iterable[str] = (),
    ) -> None:
        names = {"password" if name in _PASSWORD_FORM_FIELDS else name for name in fields}
        super().audit_staff_action(
            request, model=model, object_id=object_id, verb=verb, fields=names
        )

    @method_decorator(sensitive_post_parameters())
    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's password form, plus ``auth.user.password_change`` when the hash changed.

        The user's row is locked for the whole view, so the hash read before and after is
        this request's own change (a new password, or password login turned off).
        """
        if request.method != "POST":
            return super().user_change_password(request, id, form_url)
        model = self.model
        with transaction.atomic(using=router.db_for_write(model)):
            user = self.get_object(request, unquote(id))
            before = None
            if user is not None:
                before = self._password_hash(user.pk)
            response: HttpResponse = super().user_change_password(request, id, form_url)
            if user is not None and self._password_hash(user.pk) != before:
                self.audit_staff_action(
                    request,
                    model=model,
                    object_id=user.pk,
                    verb="password_change",
                    fields=["password"],
                )
                # a new password ends every API session of the account (issue 11, finding 3)
                password_changed(
                    user_id=int(user.pk),
                    actor=staff_actor(request),
                    event="password_change" if user.pk == request.user.pk else "password_reset",
                    now=timezone.now(),
                )
        return response

    def _password_hash(self, pk: Any) -> str | None:
        rows = self.model._base_manager.using(router.db_for_write(self.model))
        value = rows.select_for_update().filter(pk=pk).values_list("password", flat=True).first()
        return None if value is None else str(value)


class AuditedGroupAdmin(AuditedModelAdmin, GroupAdmin):
    """Django's group admin; every change (name, permissions) is audited."""


JobChange = Callable[[JobManager, ProcrastinateJob], bool]


def _task_names() -> list[tuple[str, str]]:
    from procrastinate.contrib.django import app

    return [(name, name) for name in sorted(app.tasks)]


def _queue_names() -> list[tuple[str, str]]:
    from procrastinate.contrib.django import app

    return [(q, q) for q in sorted({task.queue for task in app.tasks.values()})]


class AuditedJobAdmin(AuditedModelAdmin, procrastinate_admin.ProcrastinateJobAdmin):
    """procrastinate's read-only job pages with audited Retry / Cancel / Abort actions."""

    actions = ["retry", "cancel", "abort"]
    # procrastinate's own filters on queue, task, lock, queueing lock and priority are
    # SELECT DISTINCTs over every kept job (one or more per payment) on each page view;
    # the task and queue filters here list what is registered instead.
    list_filter = [
        "status",
        fixed_choices_filter("task_name", "task", _task_names),
        fixed_choices_filter("queue_name", "queue", _queue_names),
        "scheduled_at",
    ]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("procrastinate.change_procrastinatejob"))

    @admin.action(description="Retry Job", permissions=["operate"])
    def retry(self, request: HttpRequest, queryset: QuerySet[ProcrastinateJob]) -> None:
        def change(manager: JobManager, job: ProcrastinateJob) -> bool:
            manager.retry_job_by_id(job.id, timezone.now(), job.priority, job.queue_name, job.lock)
            return True

        self._operate(request, queryset, "retry", "retried", ("failed", "doing"), change)

    @admin.action(description="Cancel Job (only 'todo' jobs)", permissions=["operate"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[ProcrastinateJob]) -> None:
        def change(manager: JobManager, job: ProcrastinateJob) -> bool:
            return manager.cancel_job_by_id(job.id, abort=False)

        self._operate(request, queryset, "cancel", "cancelled", ("todo",), change)

    @admin.action(description="Abort Job (includes 'todo' & 'doing' jobs)", permissions=["operate"])
    def abort(self, request: HttpRequest, queryset: QuerySet[ProcrastinateJob]) -> None:
        def change(manager: JobManager, job: ProcrastinateJob) -> bool:
            return manager.cancel_job_by_id(job.id, abort=True)

        self._operate(request, queryset, "abort", "aborted", ("todo", "doing"), change)

    def _operate(
        self,
        request: HttpRequest,
        queryset: QuerySet[ProcrastinateJob],
        verb: str,
        done: str,
        statuses: tuple[str, ...],
        change: JobChange,
    ) -> None:
        alias = router.db_for_write(ProcrastinateJob)
        # Bound to Django's connection: the job change runs in this transaction.
        manager = JobManager(DjangoConnector(alias=alias))
        opts = ProcrastinateJob._meta
        actor = staff_actor(request)
        changed = 0
        with transaction.atomic(using=alias):
            selected = list(queryset.values_list("pk", flat=True))
            # Lock in id order; under the lock the status read here is the one changed.
            jobs = list(
                ProcrastinateJob.objects.using(alias)
                .filter(pk__in=selected, status__in=statuses)
                .order_by("pk")
                .select_for_update()
            )
            for job in jobs:
                if not change(manager, job):
                    continue
                changed += 1
                audit_record(
                    actor=actor,
                    action=f"{opts.app_label}.{opts.model_name}.{verb}",
                    object_type=f"{opts.app_label}.{opts.model_name}",
                    object_id=str(job.pk),
                    data={"task": job.task_name, "status": job.status},
                    now=timezone.now(),
                )
        if changed:
            self.message_user(request, f"{changed} job(s) {done}.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"No selected job could be {done} (only {' or '.join(statuses)} jobs can).",
                messages.WARNING,
            )


def _replace(model: type[Model], model_admin: type[admin.ModelAdmin[Any]]) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)


def _second_factor_pages_remove() -> None:
    """No admin page for any second-factor model (issue 11, finding 2).

    django-otp registers pages for its devices (TOTP, backup codes) that show a device's
    secret key and its QR code and let an administrator add a confirmed device for anyone,
    unaudited. Every django-otp device model (ours included) and every model of a django-otp
    plugin is taken off the admin site; resetting a staff member's second factor is the
    maker-checker staff action of ``authentication.mfa_reset``."""
    from django_otp.models import Device

    for model in list(admin.site._registry):
        label = model._meta.app_label
        if issubclass(model, Device) or label == "django_otp" or label.startswith("otp_"):
            admin.site.unregister(model)


_second_factor_pages_remove()
_replace(User, AuditedUserAdmin)
_replace(Group, AuditedGroupAdmin)
_replace(ProcrastinateJob, AuditedJobAdmin)
