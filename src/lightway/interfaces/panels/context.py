"""Template context for panel pages: who is signed in, shown masked (computed lazily, only
when a page uses it)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from lightway.application.authentication.login import realm_is_staff, user_realm
from lightway.application.errors import NotFound
from lightway.security.policy import allows, user_roles

STAFF_NAV_ACTIONS: tuple[str, ...] = ("customers.view", "staff.roles", "staff.admin_site")
# MoMo operations pages (momo_staff.py)
STAFF_NAV_ACTIONS += ("transactions.view_momo", "momo_float.view")
# MoMo reconciliation pages (reconciliation.py)
STAFF_NAV_ACTIONS += ("reconciliation.manage", "reports.view")
# Integration keys of the reporting systems (panels/lightway/views.py)
STAFF_NAV_ACTIONS += ("integration_keys.manage",)
# Commission statements (commission.py)
STAFF_NAV_ACTIONS += ("commission.statements",)
# FX rates, proposals and feeds (panels/fx_staff.py)
STAFF_NAV_ACTIONS += ("fx.rates.view",)
# Settlement windows (panels/lightway/settlement.py)
STAFF_NAV_ACTIONS += ("settlement.view",)
# Partners (IMTOs): onboarding, webhooks (panels/lightway/partners.py)
STAFF_NAV_ACTIONS += ("partners.view",)
# Partners' remittance limits (panels/lightway/partner_limits.py)
STAFF_NAV_ACTIONS += ("partner_limits.manage",)
# Partners' remittances and their reversals (panels/lightway/remittances.py)
STAFF_NAV_ACTIONS += ("remittances.view",)
# Back office: transactions and maker-checker approvals (panels/lightway/backoffice.py)
STAFF_NAV_ACTIONS += ("transactions.view", "backoffice.approve")
# The audit-log viewer (panels/lightway/audit.py)
STAFF_NAV_ACTIONS += ("audit.view",)
# goAML regulatory export (panels/lightway/goaml.py)
STAFF_NAV_ACTIONS += ("goaml.export",)
# The platform's reports (panels/lightway/reports.py)
STAFF_NAV_ACTIONS += ("reports.run",)
# Retention: policies, legal holds, runs (panels/lightway/retention.py)
STAFF_NAV_ACTIONS += ("retention.view",)
# The notification delivery log (panels/lightway/notifications.py)
STAFF_NAV_ACTIONS += ("notifications.log",)
# AML alerts, cases, rules and sanctions lists (panels/lightway/aml.py)
STAFF_NAV_ACTIONS += ("aml.cases.view", "aml.cases.work", "aml.filing.approve", "aml.rules.view")
STAFF_NAV_ACTIONS += ("aml.rules.edit", "aml.sanctions.import")


def _panel(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"signed_in": False}
    realm = user_realm(user)
    info: dict[str, Any] = {"signed_in": True, "realm": realm, "staff": realm_is_staff(realm)}
    if realm_is_staff(realm):
        info["name"] = user.get_username()
        # Navigation shows only what the policy lets this person open.
        roles = user_roles(user)
        info["can"] = {a.replace(".", "_"): allows(roles, a) for a in STAFF_NAV_ACTIONS}
    else:
        from lightway.application.onboarding.registration import account_overview

        try:
            account = account_overview(user_id=int(user.pk))
        except NotFound:  # no profile (an API-only account): show no phone
            account = None
        info["phone"] = account.phone_masked if account else ""
        info["tier"] = account.tier if account else 0
    return info


def panel_context(request: HttpRequest) -> dict[str, Any]:
    return {"panel": SimpleLazyObject(lambda: _panel(request))}
