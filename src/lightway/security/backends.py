"""Django permissions from the authorization policy.

``PolicyPermissionBackend`` gives each user the Django model permissions their roles'
actions carry (``lightway.security.policy.ADMIN_PERMISSIONS``), so the admin site shows a
finance officer the fee schedules and a compliance officer the audit trail without anyone
maintaining Django groups. It authenticates nobody (sign-in is the panels' business); it
sits after Django's ``ModelBackend`` in ``AUTHENTICATION_BACKENDS``, which still answers for
permissions granted to a user explicitly through the (audited) user admin.
"""

from __future__ import annotations

from typing import Any

from lightway.security.policy import django_permissions, user_roles


class PolicyPermissionBackend:
    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: Any) -> None:
        return None

    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if obj is not None or not getattr(user_obj, "is_active", False):
            return set()
        return set(django_permissions(user_roles(user_obj)))

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        prefix = f"{app_label}."
        return any(p.startswith(prefix) for p in self.get_all_permissions(user_obj))
