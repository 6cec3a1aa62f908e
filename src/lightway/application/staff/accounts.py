"""Staff administration: accounts of LightWay and MTN staff, and the roles they hold.

Every change is audited with the acting staff member (``actor`` ``"staff:<id>"``):
``auth.staff.create``, ``auth.role.grant``, ``auth.role.revoke``, ``auth.staff.deactivate``.

Rules:
- staff belong to a staff realm (LightWay or MTN); a role can only be held by a user of
  its realm (``ROLE_REALM``); customers and partners hold their realm's role implicitly;
- ``is_staff`` (Django's admin flag) is set for LightWay staff only; what they may do in
  the admin is still the policy's (``staff.admin_site`` and the permissions of their roles);
- the last active LightWay administrator cannot lose the role or be deactivated (the
  administrators' assignments are locked while counting, so two concurrent revocations
  cannot both pass);
- staff email and name are personal data: encrypted in the profile, never in ``auth_user``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.identity.profiles import PersonalData, profile_create, profile_pii
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile, Realm
from lightway.security.models import RoleAssignment
from lightway.security.policy import ROLE_REALM, STAFF_REALMS, Role

USERNAME_RE = re.compile(r"[a-z][a-z0-9._-]{2,39}")


@dataclass(frozen=True)
class StaffView:
    user_id: int
    username: str
    realm: str
    subject: str
    is_active: bool
    roles: tuple[str, ...]
    masked: dict[str, str]


def _realm_roles(realm: str) -> list[str]:
    return [role for role, r in ROLE_REALM.items() if r == realm]


def _check_role(role: str, realm: str) -> str:
    if role not in ROLE_REALM:
        raise ValidationFailed(f"unknown role {role!r}", details={"field": "role"})
    if realm not in STAFF_REALMS:
        raise ValidationFailed(
            "roles are granted to staff only (customers and partners hold their realm's role)",
            details={"field": "role"},
        )
    if ROLE_REALM[role] != realm:
        raise ValidationFailed(
            f"role {role} belongs to the {ROLE_REALM[role]} realm, not {realm}: roles of this "
            f"realm are {', '.join(_realm_roles(realm))}",
            details={"field": "role"},
        )
    return role


def _staff_profile(user_id: int, *, lock: bool = False) -> Profile:
    rows = Profile.objects.select_related("user")
    if lock:
        rows = rows.select_for_update(of=("self",))
    profile = rows.filter(user_id=user_id).first()
    if profile is None or profile.realm not in STAFF_REALMS:
        raise NotFound("staff member not found", details={"user_id": user_id})
    return profile


def _audit_role(actor: str, verb: str, user_id: int, role: str, now: datetime) -> None:
    audit_record(
        actor=actor,
        action=f"auth.role.{verb}",
        object_type="auth.user",
        object_id=str(user_id),
        data={"role": role},
        now=now,
    )


def staff_create(
    *,
    username: str,
    realm: str,
    roles: Iterable[str],
    actor: str,
    now: datetime,
    email: str | None = None,
    name: str | None = None,
    password: str | None = None,
) -> int:
    """Create a staff account with ``roles``; returns the user id.

    Without a password the account cannot sign in until one is set (Django admin's
    password form, audited). Email and name go to the profile, encrypted.
    """
    username = (username or "").strip().lower()
    if not USERNAME_RE.fullmatch(username):
        raise ValidationFailed(
            "username: 3 to 40 characters, lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter",
            details={"field": "username"},
        )
    if realm not in STAFF_REALMS:
        raise ValidationFailed(
            f"realm must be one of {', '.join(sorted(STAFF_REALMS))}", details={"field": "realm"}
        )
    wanted = sorted({_check_role(r, realm) for r in roles})
    User = get_user_model()
    user = User(username=username, is_staff=realm == Realm.LIGHTWAY, is_active=True)
    if password:
        try:
            validate_password(password, user)
        except DjangoValidationError as exc:
            raise ValidationFailed(" ".join(exc.messages), details={"field": "password"}) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            profile_create(
                user_id=user.pk, realm=realm, now=now, email=email or None, name=name or None
            )
            audit_record(
                actor=actor,
                action="auth.staff.create",
                object_type="auth.user",
                object_id=str(user.pk),
                data={"realm": realm, "roles": wanted},
                now=now,
            )
            for role in wanted:
                RoleAssignment.objects.create(
                    user_id=user.pk, role=role, granted_by=actor[:40], granted_at=now
                )
                _audit_role(actor, "grant", user.pk, role, now)
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
        if "username" in constraint or "email" in constraint:
            field = "username" if "username" in constraint else "email"
            raise Conflict(f"this {field} is already in use", details={"field": field}) from None
        raise
    return int(user.pk)


def role_grant(*, user_id: int, role: str, actor: str, now: datetime) -> bool:
    """Give a staff member ``role`` (of their realm); False if they already hold it."""
    with transaction.atomic():
        profile = _staff_profile(user_id, lock=True)
        _check_role(role, profile.realm)
        _, created = RoleAssignment.objects.get_or_create(
            user_id=user_id, role=role, defaults={"granted_by": actor[:40], "granted_at": now}
        )
        if created:
            _audit_role(actor, "grant", user_id, role, now)
    return created


def _active_admins_locked() -> list[int]:
    """Lock the LightWay administrators' assignments; the ids of the active ones."""
    rows = (
        RoleAssignment.objects.select_for_update()
        .filter(role=Role.LW_ADMIN)
        .order_by("pk")
        .values_list("user_id", "user__is_active")
    )
    return [user_id for user_id, active in rows if active]


def role_revoke(*, user_id: int, role: str, actor: str, now: datetime) -> bool:
    """Take ``role`` from a staff member; False if they did not hold it. The last active
    LightWay administrator keeps theirs."""
    with transaction.atomic():
        profile = _staff_profile(user_id, lock=True)
        _check_role(role, profile.realm)
        if role == Role.LW_ADMIN:
            admins = _active_admins_locked()
            if admins == [user_id]:
                raise Conflict(
                    "this is the last active LightWay administrator: grant the role to someone "
                    "else first",
                    details={"field": "role"},
                )
        deleted, _ = RoleAssignment.objects.filter(user_id=user_id, role=role).delete()
        if deleted:
            _audit_role(actor, "revoke", user_id, role, now)
    return bool(deleted)


def staff_deactivate(*, user_id: int, actor: str, now: datetime) -> bool:
    """Turn a staff account off (it can no longer sign in; its sessions stop working).
    Roles are kept for the record. False if it was already inactive."""
    with transaction.atomic():
        profile = _staff_profile(user_id, lock=True)
        admins = _active_admins_locked()
        if admins == [user_id]:
            raise Conflict(
                "this is the last active LightWay administrator: it cannot be deactivated",
                details={"field": "user"},
            )
        user = get_user_model().objects.select_for_update().get(pk=profile.user_id)
        if not user.is_active:
            return False
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action="auth.staff.deactivate",
            object_type="auth.user",
            object_id=str(user_id),
            data={"realm": profile.realm},
            now=now,
        )
    return True


def staff_list(*, realm: str | None = None) -> list[StaffView]:
    """Staff accounts with their roles and masked email / name (never in clear)."""
    profiles = Profile.objects.select_related("user").filter(realm__in=sorted(STAFF_REALMS))
    if realm:
        profiles = profiles.filter(realm=realm)
    roles: dict[int, list[str]] = {}
    for user_id, role in RoleAssignment.objects.values_list("user_id", "role").order_by("role"):
        roles.setdefault(user_id, []).append(role)
    out = []
    for p in profiles.order_by("realm", "user__username"):
        pii: PersonalData = profile_pii(p)
        masked = pii.masked()
        out.append(
            StaffView(
                user_id=p.user_id,
                username=p.user.username,
                realm=p.realm,
                subject=p.subject,
                is_active=p.user.is_active,
                roles=tuple(r for r in roles.get(p.user_id, []) if ROLE_REALM.get(r) == p.realm),
                masked={"email": masked["email"], "name": masked["name"]},
            )
        )
    return out
