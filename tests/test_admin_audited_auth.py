"""Staff actions on users, groups and background jobs through /admin/ are audited.

Over real HTTP (Django's test client, signed in as a staff superuser) against the project's
own URLs, i.e. the admin pages that ``lightway.interfaces.admin.auth`` puts on
``admin.site`` in place of Django's and procrastinate's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.forms import MultiWidget

from lightway.data.audit.models import AuditRecord
from lightway.interfaces.admin.auth import AuditedGroupAdmin, AuditedJobAdmin, AuditedUserAdmin

NEW_PASSWORD = "Corr3ct-horse-battery-staple"

pytestmark = pytest.mark.django_db


def _records(action: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(action=action).order_by("id"))


def _everything_stored() -> str:
    return json.dumps(
        [
            [r.actor, r.action, r.object_type, r.object_id, r.data]
            for r in AuditRecord.objects.order_by("id")
        ]
    )


def _form_data(response: Any) -> dict[str, Any]:
    """The POST data of the admin change form in ``response``, as the browser would send it
    (including the hidden ``initial-`` inputs of fields with ``show_hidden_initial``)."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}

    def put(name: str, widget: Any, value: Any) -> None:
        if isinstance(widget, MultiWidget):
            # Formatted by each sub-widget, as rendered in the page (no microseconds).
            parts = zip(widget.widgets, widget.decompress(value), strict=True)
            for i, (sub, part) in enumerate(parts):
                data[f"{name}_{i}"] = sub.format_value(part) or ""
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = "" if value is None else str(value)

    for name, field in form.fields.items():
        if field.disabled:
            continue
        bound = form[name]
        put(bound.html_name, field.widget, bound.value())
        if field.show_hidden_initial:
            put(bound.html_initial_name, field.hidden_widget(), bound.initial)
    return data


def test_the_default_site_serves_the_audited_pages() -> None:
    from django.urls import resolve

    resolve("/admin/")  # loads lightway.interfaces.web.urls, which imports the module
    assert type(admin.site._registry[User]) is AuditedUserAdmin
    assert type(admin.site._registry[Group]) is AuditedGroupAdmin
    from procrastinate.contrib.django.models import ProcrastinateJob

    assert type(admin.site._registry[ProcrastinateJob]) is AuditedJobAdmin


# --- users ------------------------------------------------------------------------------


def test_user_create_superuser_grant_and_delete_are_audited(admin_client, admin_user) -> None:
    actor = f"staff:{admin_user.pk}"
    response = admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "ops.clerk",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    clerk = User.objects.get(username="ops.clerk")
    (created,) = _records("auth.user.create")
    assert (created.actor, created.object_type, created.object_id) == (
        actor,
        "auth.user",
        str(clerk.pk),
    )
    assert created.data == {"fields": ["password", "username"]}

    # Make them superuser (and staff) through the change form.
    url = f"/admin/auth/user/{clerk.pk}/change/"
    data = _form_data(admin_client.get(url))
    data.update(is_staff="on", is_superuser="on", email="clerk.private@example.com")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:3000]
    clerk.refresh_from_db()
    assert clerk.is_superuser and clerk.is_staff
    (updated,) = _records("auth.user.update")
    assert updated.actor == actor and updated.object_id == str(clerk.pk)
    assert updated.data == {"fields": ["email", "is_staff", "is_superuser"]}

    response = admin_client.post(f"/admin/auth/user/{clerk.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=clerk.pk).exists()
    (deleted,) = _records("auth.user.delete")
    assert (deleted.actor, deleted.object_id, deleted.data) == (
        actor,
        str(clerk.pk),
        {"fields": []},
    )

    stored = _everything_stored()
    assert NEW_PASSWORD not in stored and "private" not in stored and "pbkdf2" not in stored


def test_password_change_through_the_admin_is_audited(admin_client, admin_user) -> None:
    person = User.objects.create_user("teller", password="Old-passw0rd-long-enough")
    old_hash = person.password
    url = f"/admin/auth/user/{person.pk}/password/"
    assert admin_client.get(url).status_code == 200

    # A refused form changes nothing and writes nothing.
    response = admin_client.post(
        url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": "different"}
    )
    assert response.status_code == 200
    person.refresh_from_db()
    assert person.password == old_hash
    assert _records("auth.user.password_change") == []

    response = admin_client.post(
        url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302, response.content[:2000]
    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)
    (changed,) = _records("auth.user.password_change")
    assert (changed.actor, changed.object_type, changed.object_id, changed.data) == (
        f"staff:{admin_user.pk}",
        "auth.user",
        str(person.pk),
        {"fields": ["password"]},
    )

    # Turning password login off is a password change too.
    response = admin_client.post(url, {"usable_password": "false", "unset-password": "1"})
    assert response.status_code == 302, response.content[:2000]
    person.refresh_from_db()
    assert not person.has_usable_password()
    assert len(_records("auth.user.password_change")) == 2

    stored = _everything_stored()
    assert NEW_PASSWORD not in stored and person.password not in stored
    assert old_hash not in stored


# --- groups -----------------------------------------------------------------------------


def test_group_changes_are_audited(admin_client, admin_user) -> None:
    perm = Permission.objects.get(codename="change_user")
    response = admin_client.post(
        "/admin/auth/group/add/", {"name": "support", "permissions": [str(perm.pk)]}
    )
    assert response.status_code == 302, response.content[:2000]
    group = Group.objects.get(name="support")
    (created,) = _records("auth.group.create")
    assert created.data == {"fields": ["name", "permissions"]}
    assert (created.actor, created.object_id) == (f"staff:{admin_user.pk}", str(group.pk))

    response = admin_client.post(
        f"/admin/auth/group/{group.pk}/change/", {"name": "support", "permissions": []}
    )
    assert response.status_code == 302
    (updated,) = _records("auth.group.update")
    assert updated.data == {"fields": ["permissions"]}

    response = admin_client.post(
        "/admin/auth/group/",
        {"action": "delete_selected", "_selected_action": [group.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert [r.object_id for r in _records("auth.group.delete")] == [str(group.pk)]


# --- background jobs --------------------------------------------------------------------

JOBS_URL = "/admin/procrastinate/procrastinatejob/"


def _job(status: str, task: str = "lightway_test.admin_job") -> int:
    """A job row in ``status`` (a task name no worker knows, so nobody runs it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)"
            " VALUES ('lightway_test', %s, '{}', %s, 0) RETURNING id",
            [task, status],
        )
        return int(cursor.fetchone()[0])


def _status(job_id: int) -> tuple[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, abort_requested FROM procrastinate_jobs WHERE id = %s", [job_id]
        )
        status, abort_requested = cursor.fetchone()
    return str(status), bool(abort_requested)


def _act(client: Any, action: str, ids: list[int]) -> Any:
    return client.post(JOBS_URL, {"action": action, "_selected_action": ids, "index": "0"})


def test_job_actions_are_audited(admin_client, admin_user) -> None:
    actor = f"staff:{admin_user.pk}"
    failed, todo, doing, done = _job("failed"), _job("todo"), _job("doing"), _job("succeeded")
    assert admin_client.get(JOBS_URL).status_code == 200

    # Retry: only the failed one qualifies of these two.
    assert _act(admin_client, "retry", [failed, done]).status_code == 302
    assert _status(failed)[0] == "todo" and _status(done)[0] == "succeeded"
    (retried,) = _records("procrastinate.procrastinatejob.retry")
    assert (retried.actor, retried.object_type, retried.object_id) == (
        actor,
        "procrastinate.procrastinatejob",
        str(failed),
    )
    assert retried.data == {"task": "lightway_test.admin_job", "status": "failed"}

    assert _act(admin_client, "cancel", [todo]).status_code == 302
    assert _status(todo)[0] == "cancelled"
    (cancelled,) = _records("procrastinate.procrastinatejob.cancel")
    assert cancelled.object_id == str(todo) and cancelled.data["status"] == "todo"

    assert _act(admin_client, "abort", [doing]).status_code == 302
    assert _status(doing) == ("doing", True)
    (aborted,) = _records("procrastinate.procrastinatejob.abort")
    assert aborted.object_id == str(doing) and aborted.data["status"] == "doing"

    # Nothing left that an action applies to: no change, no record.
    before = AuditRecord.objects.count()
    assert _act(admin_client, "cancel", [done, todo]).status_code == 302
    assert AuditRecord.objects.count() == before


def test_job_pages_stay_read_only_and_actions_need_change_permission(client) -> None:
    job = _job("failed")
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    # The admin site needs a role allowing it (docs/security.md); finance's own permissions
    # include nothing about jobs, so what follows is the explicit permissions' doing.
    from django.utils import timezone

    from lightway.security.models import RoleAssignment

    RoleAssignment.objects.create(
        user=viewer, role="lw_finance", granted_by="test", granted_at=timezone.now()
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_procrastinatejob"))
    client.force_login(viewer)
    listing = client.get(JOBS_URL)
    assert listing.status_code == 200
    assert b'value="retry"' not in listing.content
    _act(client, "retry", [job])
    assert _status(job)[0] == "failed"
    assert client.post(f"{JOBS_URL}{job}/change/", {"status": "todo"}).status_code == 403
    assert client.post(f"{JOBS_URL}{job}/delete/", {"post": "yes"}).status_code == 403
    assert AuditRecord.objects.count() == 0

    viewer.user_permissions.add(Permission.objects.get(codename="change_procrastinatejob"))
    viewer = User.objects.get(pk=viewer.pk)  # drop the permission cache
    client.force_login(viewer)
    assert b'value="retry"' in client.get(JOBS_URL).content
    assert _act(client, "retry", [job]).status_code == 302
    assert _status(job)[0] == "todo"
    assert [r.actor for r in _records("procrastinate.procrastinatejob.retry")] == [
        f"staff:{viewer.pk}"
    ]
