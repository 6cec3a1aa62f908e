"""The authorization policy: the single source of truth for who may do what.

Roles belong to realms (customers, LightWay staff, MTN staff, partner API clients). The
permission matrix (role x action) lives here and is printed as a table in docs/security.md
(a test keeps the two equal). Object scoping (whose data a role may see) is here too.
"""

from __future__ import annotations

from django.db import models

from lightway.data.identity.models import Realm


class Role(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    # LightWay staff
    LW_ADMIN = "lw_admin", "LightWay administrator"
    LW_OPERATIONS = "lw_operations", "Operations"
    LW_FINANCE = "lw_finance", "Finance"
    LW_COMPLIANCE = "lw_compliance", "Compliance officer"
    LW_SUPPORT = "lw_support", "Support agent"
    LW_KYC_REVIEWER = "lw_kyc_reviewer", "KYC reviewer"
    # MTN staff
    MTN_ADMIN = "mtn_admin", "MTN administrator"
    MTN_MONITORING = "mtn_monitoring", "MTN monitoring analyst"
    MTN_FINANCE = "mtn_finance", "MTN finance"
    # Partner API clients
    PARTNER = "partner", "Partner API client (IMTO)"


ROLE_REALM: dict[str, str] = {
    Role.CUSTOMER: Realm.CUSTOMER,
    Role.LW_ADMIN: Realm.LIGHTWAY,
    Role.LW_OPERATIONS: Realm.LIGHTWAY,
    Role.LW_FINANCE: Realm.LIGHTWAY,
    Role.LW_COMPLIANCE: Realm.LIGHTWAY,
    Role.LW_SUPPORT: Realm.LIGHTWAY,
    Role.LW_KYC_REVIEWER: Realm.LIGHTWAY,
    Role.MTN_ADMIN: Realm.MTN,
    Role.MTN_MONITORING: Realm.MTN,
    Role.MTN_FINANCE: Realm.MTN,
    Role.PARTNER: Realm.PARTNER,
}

STAFF_REALMS = frozenset({Realm.LIGHTWAY, Realm.MTN})
