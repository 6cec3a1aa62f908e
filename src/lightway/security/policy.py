"""The authorization policy: the single source of truth for who may do what.

Roles belong to realms (customers, LightWay staff, MTN staff, partner API clients). The
permission matrix (role x action) lives here and is printed as a table in docs/security.md
(a test keeps the two equal). Object scoping (whose data a role may see) is here too.

- ``allows(roles, action)``: may a holder of ``roles`` do ``action``? ``public`` is allowed
  to everyone, unknown actions to nobody.
- ``user_roles(user)``: the roles of a signed-in user. Customers always hold ``customer``
  and partner API clients ``partner`` (their realm's only role); staff hold the roles
  assigned to them (``RoleAssignment``) that belong to their realm. A Django superuser has
  no implicit rights: without an assigned role it can do nothing the policy guards.
- ``scope_transfers`` / ``transfer_scope``: the transfers a role may see.
- ``must_mask(roles, revealed=...)``: whether personal data is shown masked.
- ``django_permissions(roles)``: the Django model permissions the admin site checks,
  derived from the actions (see ``ADMIN_PERMISSIONS``; ``security.backends``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q, QuerySet

from lightway.data.identity.models import Realm
from lightway.data.wallets.models import TransferKind

if TYPE_CHECKING:
    from lightway.data.wallets.models import Transfer


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

# Staff never hold bearer credentials (API tokens, mobile access or refresh tokens): they
# use the panels, with a second factor and an idle timeout that a token would skip. A user
# is staff for this rule by realm, or by Django's is_staff / is_superuser flags. The SQL
# form is part of every query that authenticates a bearer token (``u`` auth_user, ``p``
# its identity_profile, LEFT JOINed), so a token issued before the rule, planted in the
# database, or held by an account made staff later is refused at use time too.
BEARER_PRINCIPAL_SQL = (
    "NOT u.is_staff AND NOT u.is_superuser AND coalesce(p.realm, '') NOT IN ("
    + ", ".join(f"'{realm.value}'" for realm in sorted(STAFF_REALMS))
    + ")"
)


def bearer_refused(*, is_staff: bool, is_superuser: bool, realm: str) -> bool:
    """True when an account may hold no bearer credential (the rule of
    :data:`BEARER_PRINCIPAL_SQL`, for issue time)."""
    return bool(is_staff or is_superuser or realm in STAFF_REALMS)


# The roles a realm's users hold without an assignment (their realm's only role).
IMPLICIT_ROLES: dict[str, frozenset[str]] = {
    Realm.CUSTOMER: frozenset({Role.CUSTOMER.value}),
    Realm.PARTNER: frozenset({Role.PARTNER.value}),
}


class Action(models.TextChoices):
    """Everything the policy guards; the label is the one-line description."""

    PUBLIC = "public", "Open to everyone: sign-in and registration pages, webhooks, probes"
    SELF_WALLETS = "self.wallets", "See own wallets, balances and statements"
    SELF_TRANSFER = "self.transfer", "Send money from own wallets, see own transfers"
    SELF_PROFILE = "self.profile", "See and edit own profile, limits and consents"
    SELF_KYC = "self.kyc", "Go through identity verification (KYC) for oneself"
    SELF_SECURITY = "self.security", "Manage own password, MFA, devices, notification choices"
    STAFF_SIGN_IN = (
        "staff.sign_in",
        "Finish a staff sign-in: enrol or verify the second factor (before it is verified)",
    )
    STAFF_PANEL = "staff.panel", "Enter a staff panel (LightWay /staff/, MTN /mtn/)"
    STAFF_ADMIN_SITE = "staff.admin_site", "Enter the Django admin site (/admin/)"
    STAFF_ROLES = "staff.roles", "Create and deactivate staff accounts, grant and revoke roles"
    CUSTOMERS_VIEW = "customers.view", "Find customers and see their data, masked"
    PII_REVEAL = "pii.reveal", "Reveal a customer's personal data, with a reason (audited)"
    KYC_REVIEW = "kyc.review", "Review identity verifications and set KYC tiers"
    KYC_LIMITS_VIEW = "kyc_limits.view", "See the KYC tier limits"
    KYC_LIMITS_EDIT = "kyc_limits.edit", "Add KYC tier limits for a later date (audited)"
    FEES_EDIT = "fees.edit", "Edit fee schedules and commission splits (audited)"
    LEDGER_VIEW = "ledger.view", "See ledger accounts, entries, holds, commission records"
    ACCOUNTS_FREEZE = "accounts.freeze", "Freeze and unfreeze ledger accounts (audited)"
    AUDIT_VIEW = "audit.view", "Read the audit trail (the audit viewer; reads are audited)"
    AUDIT_EXPORT = (
        "audit.export",
        "Export a filtered selection of the audit trail as CSV, masked (audited with its SHA-256)",
    )
    TRANSACTIONS_VIEW = "transactions.view", "See all transactions"
    TRANSACTIONS_VIEW_MOMO = (
        "transactions.view_momo",
        "See MoMo-routed transactions only, personal data always masked",
    )
    REPORTS_VIEW = "reports.view", "See financial and regulatory reports"
    COMMISSION_STATEMENTS = (
        "commission.statements",
        "Download the commission statement of any party: LightWay, MTN, a partner (audited)",
    )
    RECON_MANAGE = (
        "reconciliation.manage",
        "Run MoMo reconciliation, import float statements, work the case queue (audited)",
    )
    FLOAT_VIEW = "momo_float.view", "See MoMo float balances, readings and thresholds"
    FLOAT_MANAGE = "momo_float.manage", "Set MoMo float low-balance thresholds (audited)"
    JOBS_MANAGE = "jobs.manage", "See background jobs; retry, cancel or abort them (audited)"
    NOTIFICATIONS_LOG = "notifications.log", "See the notification delivery log (masked)"
    PARTNERS_MANAGE = (
        "partners.manage",
        "Onboard and edit partners (IMTOs), suspend or close them, rotate their webhook"
        " secret (audited)",
    )
    PARTNERS_VIEW = (
        "partners.view",
        "See partners (IMTOs): company, currencies, prefund balances, webhook deliveries",
    )
    PARTNER_WEBHOOKS_REDELIVER = (
        "partner_webhooks.redeliver",
        "Redeliver partner webhooks: one event or every dead-lettered one (audited)",
    )
    INTEGRATION_KEYS_MANAGE = (
        "integration_keys.manage",
        "Issue and revoke integration keys of MTN's and LightWay's reporting systems (audited)",
    )
    SETTLEMENT_VIEW = (
        "settlement.view",
        "See settlement windows, positions, instructions, reconciliations; download statements",
    )
    SETTLEMENT_MANAGE = (
        "settlement.manage",
        "Close or abort settlement windows, re-issue instructions, reconcile statements (audited)",
    )
    PARTNER_TRANSFERS = "partner.transfers", "Partner API: create and see its own transfers"
    FX_RATES_VIEW = "fx.rates.view", "See FX rates, their history, proposals and the rate feeds"
    FX_RATES_PROPOSE = "fx.rates.propose", "Propose an FX rate (treasury entry) (audited)"
    FX_RATES_APPROVE = (
        "fx.rates.approve",
        "Approve or reject another person's proposed FX rate (audited)",
    )
    PARTNER_ACCOUNT = (
        "partner.account",
        "Partner API: its own balances, movements, statements and events",
    )
    PARTNER_REMITTANCES = (
        "partner.remittances",
        "Partner API: quotes, beneficiary validations, its own remittances",
    )
    PARTNER_LIMITS_MANAGE = (
        "partner_limits.manage",
        "Set partners' remittance limits per currency (audited)",
    )
    REMITTANCES_VIEW = (
        "remittances.view",
        "See partners' remittances: state timeline, transfer, MoMo request, reversal requests",
    )
    REMITTANCE_REVERSAL_REQUEST = (
        "remittances.reversal_request",
        "Ask for the reversal of a completed remittance, with a reason (audited)",
    )
    REMITTANCE_REVERSAL_APPROVE = (
        "remittances.reversal_approve",
        "Approve or reject another person's remittance reversal request (audited)",
    )
    CUSTOMERS_NOTES = (
        "customers.notes",
        "Add support notes to a customer's page (append-only, audited)",
    )
    CUSTOMERS_CODE_RESEND = (
        "customers.code_resend",
        "Send a customer a new phone verification code (audited)",
    )
    BACKOFFICE_REQUEST = (
        "backoffice.request",
        "Ask for a freeze, unfreeze, second-factor reset, retry or reversal (audited)",
    )
    BACKOFFICE_APPROVE = (
        "backoffice.approve",
        "Approve or reject another person's back-office action; approval carries it out (audited)",
    )
    CUSTOMERS_LIMITS_OVERRIDE = (
        "customers.limits_override",
        "Ask for a customer's limit override; another person approves it (audited)",
    )
    TRANSACTIONS_EXPORT = (
        "transactions.export",
        "Download the filtered transaction list as CSV, personal data masked (audited)",
    )
    GOAML_EXPORT = (
        "goaml.export",
        "Generate goAML reports (STR, CTR) and central-bank returns, list and download them"
        " (audited)",
    )
    REPORTS_RUN = (
        "reports.run",
        "Request the platform's reports and download any report run (audited)",
    )
    RETENTION_VIEW = (
        "retention.view",
        "See the retention policies in force, legal holds and the retention job's runs",
    )
    RETENTION_MANAGE = (
        "retention.manage",
        "Place a legal hold, or release another officer's hold (audited)",
    )
    AML_CASES_VIEW = "aml.cases.view", "See AML alerts, cases, their evidence and timeline"
    AML_CASES_WORK = (
        "aml.cases.work",
        "Work AML cases: assign, note, escalate, propose an STR filing, close (audited)",
    )
    AML_FILING_APPROVE = (
        "aml.filing.approve",
        "Approve or send back another officer's STR filing proposal (audited)",
    )
    AML_RULES_VIEW = "aml.rules.view", "See the AML rules and their versions"
    AML_RULES_EDIT = "aml.rules.edit", "Add a version of an AML rule (audited)"
    AML_SANCTIONS_IMPORT = "aml.sanctions.import", "Import a sanctions list file (audited)"


A = Action
_SELF = frozenset({A.SELF_WALLETS, A.SELF_TRANSFER, A.SELF_PROFILE, A.SELF_KYC, A.SELF_SECURITY})

# Least privilege: each role gets what its job needs, nothing "just in case".
MATRIX: dict[str, frozenset[str]] = {
    Role.CUSTOMER: _SELF,
    Role.LW_ADMIN: frozenset(
        {
            A.STAFF_SIGN_IN,
            A.STAFF_PANEL,
            A.STAFF_ADMIN_SITE,
            A.STAFF_ROLES,
            A.PARTNERS_MANAGE,
            A.PARTNERS_VIEW,
            A.PARTNER_WEBHOOKS_REDELIVER,
            A.INTEGRATION_KEYS_MANAGE,
            A.KYC_LIMITS_VIEW,
            A.AML_RULES_VIEW,
        }
    ),
    Role.LW_OPERATIONS: frozenset(
        {
            A.STAFF_SIGN_IN,
            A.STAFF_PANEL,
            A.STAFF_ADMIN_SITE,
            A.CUSTOMERS_VIEW,
            A.TRANSACTIONS_VIEW,
            A.TRANSACTIONS_VIEW_MOMO,
            A.ACCOUNTS_FREEZE,
            A.JOBS_MANAGE,
            A.NOTIFICATIONS_LOG,
            A.KYC_LIMITS_VIEW,
            A.RECON_MANAGE,
            A.FLOAT_VIEW,
            A.FX_RATES_VIEW,
            A.SETTLEMENT_VIEW,
            A.PARTNERS_VIEW,
            A.PARTNER_WEBHOOKS_REDELIVER,
            # Maker-checker: operations ask for a remittance's reversal, finance decides.
            A.REMITTANCES_VIEW,
            A.REMITTANCE_REVERSAL_REQUEST,
            A.CUSTOMERS_NOTES,
            A.CUSTOMERS_CODE_RESEND,
            A.BACKOFFICE_REQUEST,
            A.BACKOFFICE_APPROVE,
            A.CUSTOMERS_LIMITS_OVERRIDE,
            A.TRANSACTIONS_EXPORT,
        }
    ),
    Role.LW_FINANCE: frozenset(
        {
            A.STAFF_SIGN_IN,
            A.STAFF_PANEL,
            A.STAFF_ADMIN_SITE,
            A.LEDGER_VIEW,
            A.FEES_EDIT,
            A.TRANSACTIONS_VIEW,
            A.TRANSACTIONS_VIEW_MOMO,
            A.REPORTS_VIEW,
            A.COMMISSION_STATEMENTS,
            A.KYC_LIMITS_VIEW,
            A.RECON_MANAGE,
            A.FLOAT_VIEW,
            A.FLOAT_MANAGE,
            # Maker-checker: finance staff propose and approve, never their own (docs/fx.md).
            A.FX_RATES_VIEW,
            A.FX_RATES_PROPOSE,
            A.FX_RATES_APPROVE,
            A.SETTLEMENT_VIEW,
            A.SETTLEMENT_MANAGE,
            A.PARTNERS_VIEW,
            A.PARTNER_LIMITS_MANAGE,
            A.REMITTANCES_VIEW,
            A.REMITTANCE_REVERSAL_APPROVE,
            A.BACKOFFICE_APPROVE,
            A.TRANSACTIONS_EXPORT,
            A.REPORTS_RUN,
        }
    ),
    Role.LW_COMPLIANCE: frozenset(
        {
            A.STAFF_SIGN_IN,
            A.STAFF_PANEL,
            A.STAFF_ADMIN_SITE,
            A.CUSTOMERS_VIEW,
            A.PII_REVEAL,
            A.KYC_REVIEW,
            A.KYC_LIMITS_VIEW,
            A.KYC_LIMITS_EDIT,
            A.AUDIT_VIEW,
            A.AUDIT_EXPORT,
            A.TRANSACTIONS_VIEW,
            A.TRANSACTIONS_VIEW_MOMO,
            A.ACCOUNTS_FREEZE,
            A.REPORTS_VIEW,
            A.NOTIFICATIONS_LOG,
            A.PARTNERS_VIEW,
            A.REMITTANCES_VIEW,
            A.CUSTOMERS_NOTES,
            A.BACKOFFICE_REQUEST,
            A.BACKOFFICE_APPROVE,
            A.RETENTION_VIEW,
            A.RETENTION_MANAGE,
            A.CUSTOMERS_LIMITS_OVERRIDE,
            A.TRANSACTIONS_EXPORT,
            A.REPORTS_RUN,
            # Regulatory filings: compliance only (tipping-off rules keep STR data away
            # from front-line roles).
            A.GOAML_EXPORT,
            # AML: maker-checker on STR filings (docs/aml.md)
            A.AML_CASES_VIEW,
            A.AML_CASES_WORK,
            A.AML_FILING_APPROVE,
            A.AML_RULES_VIEW,
            A.AML_RULES_EDIT,
            A.AML_SANCTIONS_IMPORT,
        }
    ),
    Role.LW_SUPPORT: frozenset(
        {
            A.STAFF_SIGN_IN,
            A.STAFF_PANEL,
            A.CUSTOMERS_VIEW,
            A.TRANSACTIONS_VIEW,
            A.TRANSACTIONS_VIEW_MOMO,
            A.NOTIFICATIONS_LOG,
            A.KYC_LIMITS_VIEW,
            A.CUSTOMERS_NOTES,
            A.CUSTOMERS_CODE_RESEND,
            A.BACKOFFICE_REQUEST,
        }
    ),
    Role.LW_KYC_REVIEWER: frozenset(
        {A.STAFF_SIGN_IN, A.STAFF_PANEL, A.CUSTOMERS_VIEW, A.KYC_REVIEW, A.KYC_LIMITS_VIEW}
    ),
    Role.MTN_ADMIN: frozenset(
        {A.STAFF_SIGN_IN, A.STAFF_PANEL, A.TRANSACTIONS_VIEW_MOMO, A.FLOAT_VIEW}
    ),
    Role.MTN_MONITORING: frozenset(
        {A.STAFF_SIGN_IN, A.STAFF_PANEL, A.TRANSACTIONS_VIEW_MOMO, A.FLOAT_VIEW}
    ),
    Role.MTN_FINANCE: frozenset(
        {A.STAFF_SIGN_IN, A.STAFF_PANEL, A.TRANSACTIONS_VIEW_MOMO, A.REPORTS_VIEW, A.FLOAT_VIEW}
    ),
    Role.PARTNER: frozenset({A.PARTNER_TRANSFERS, A.PARTNER_ACCOUNT, A.PARTNER_REMITTANCES}),
}

# Machine credentials ("integration keys", issue 11 finding 9): MTN's and LightWay's
# reporting systems sign requests to the read-only MoMo status and report operations. A key
# belongs to one of these realms and holds some of these scopes (policy actions); it is
# allowed an action only when the action is one of its scopes (``integration_allows``),
# never through a role. What it sees of the data is what the MTN panel shows its staff,
# whatever the realm: MoMo-routed transfers, personal data masked. The selectors scope data
# by role, so that view is given to them as ``INTEGRATION_DATA_ROLES``.
INTEGRATION_REALMS = frozenset({Realm.MTN, Realm.LIGHTWAY})
INTEGRATION_SCOPES = frozenset({A.TRANSACTIONS_VIEW_MOMO, A.REPORTS_VIEW})
INTEGRATION_DATA_ROLES = frozenset({Role.MTN_MONITORING.value})


def integration_allows(scopes: Iterable[str], action: str) -> bool:
    """May an integration key holding ``scopes`` do ``action``? Only a read action of
    ``INTEGRATION_SCOPES`` that is one of its scopes (``public`` needs no credential)."""
    if action == A.PUBLIC:
        return True
    return action in INTEGRATION_SCOPES and action in frozenset(scopes)


# Actions only staff realms may ever hold (never customers or partners).
STAFF_ACTIONS = (
    frozenset(a.value for a in Action)
    - _SELF
    - {
        A.PUBLIC,
        A.PARTNER_TRANSFERS,
        A.PARTNER_ACCOUNT,
        A.PARTNER_REMITTANCES,
    }
)

# The Django model permissions (app_label.codename) each action gives inside /admin/.
# The admin site itself also needs ``staff.admin_site``.
ADMIN_PERMISSIONS: dict[str, frozenset[str]] = {
    A.STAFF_ROLES: frozenset({"auth.view_user", "auth.add_user", "auth.change_user"}),
    # The admin's partner pages are read-only: onboarding and changes are on /staff/partners/.
    A.PARTNERS_MANAGE: frozenset({"identity.view_partner"}),
    A.PARTNERS_VIEW: frozenset({"identity.view_partner"}),
    A.KYC_LIMITS_VIEW: frozenset({"identity.view_kyctierlimit"}),
    A.KYC_LIMITS_EDIT: frozenset(
        {
            "identity.view_kyctierlimit",
            "identity.add_kyctierlimit",
            "identity.change_kyctierlimit",
            "identity.delete_kyctierlimit",  # rows not yet in effect only (the admin, the DB)
        }
    ),
    A.AUDIT_VIEW: frozenset({"audit.view_auditrecord"}),
    A.FEES_EDIT: frozenset(
        {
            "commission.view_feeschedule",
            "commission.add_feeschedule",
            "commission.change_feeschedule",
            "commission.delete_feeschedule",
            "commission.view_feeband",
            "commission.add_feeband",
            "commission.change_feeband",
            "commission.delete_feeband",
            "commission.view_feesplit",
            "commission.add_feesplit",
            "commission.change_feesplit",
            "commission.delete_feesplit",
            "commission.view_commissionrecord",
        }
    ),
    A.LEDGER_VIEW: frozenset(
        {
            "ledger.view_account",
            "ledger.view_journalentry",
            "ledger.view_posting",
            "ledger.view_hold",
            "wallets.view_wallet",
            "commission.view_commissionrecord",
            "commission.view_feeschedule",
        }
    ),
    A.ACCOUNTS_FREEZE: frozenset({"ledger.view_account", "ledger.change_account"}),
    A.TRANSACTIONS_VIEW: frozenset({"wallets.view_transfer"}),
    A.JOBS_MANAGE: frozenset(
        {"procrastinate.view_procrastinatejob", "procrastinate.change_procrastinatejob"}
    ),
}

# Transfer kinds routed through MTN MoMo (money in from or out to a MoMo number, and inbound
# remittances paid into MoMo): what MTN staff may see.
MOMO_ROUTED_KINDS = frozenset(
    {TransferKind.DEPOSIT, TransferKind.WITHDRAWAL, TransferKind.PAYOUT, TransferKind.REMITTANCE}
)


def role_actions(role: str) -> frozenset[str]:
    return MATRIX.get(role, frozenset())


def allows(roles: Iterable[str], action: str) -> bool:
    """May a holder of ``roles`` do ``action``? ``public`` is open to everyone (even
    without roles); an action nobody holds is allowed to nobody."""
    if action == A.PUBLIC:
        return True
    return any(action in MATRIX.get(role, ()) for role in roles)


def actions_of(roles: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for role in roles:
        out |= MATRIX.get(role, frozenset())
    return frozenset(out)


def django_permissions(roles: Iterable[str]) -> frozenset[str]:
    """The Django model permissions the admin site grants a holder of ``roles``."""
    actions = actions_of(roles)
    if A.STAFF_ADMIN_SITE not in actions:
        return frozenset()
    out: set[str] = set()
    for action in actions:
        out |= ADMIN_PERMISSIONS.get(action, frozenset())
    return frozenset(out)


def user_realm_of(user: Any) -> str:
    """A signed-in user's realm: its profile's; without a profile (the bootstrap
    administrator, accounts made before profiles existed) LightWay staff for Django staff
    accounts, else customer. Anonymous users have none (``""``)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    from lightway.data.identity.models import Profile

    try:
        profile = user.profile
    except (Profile.DoesNotExist, AttributeError):
        profile = None
    if profile is not None:
        return str(profile.realm)
    if getattr(user, "is_staff", False) or getattr(user, "is_superuser", False):
        return str(Realm.LIGHTWAY)
    return str(Realm.CUSTOMER)


_CACHE_ATTR = "_lightway_roles"


def user_roles(user: Any) -> frozenset[str]:
    """The roles of a signed-in, active user (cached on the user object for the request).

    Customers hold ``customer``, partner API clients ``partner``; staff hold their assigned
    roles of their own realm (an assignment of another realm's role is ignored; the
    services refuse to make one). ``is_superuser`` grants nothing here.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    if not getattr(user, "is_active", False):
        return frozenset()
    cached = getattr(user, _CACHE_ATTR, None)
    if isinstance(cached, frozenset):
        return cached
    realm = user_realm_of(user)
    roles = set(IMPLICIT_ROLES.get(realm, frozenset()))
    if realm in STAFF_REALMS:
        from lightway.security.models import RoleAssignment

        assigned = RoleAssignment.objects.filter(user_id=user.pk).values_list("role", flat=True)
        roles |= {r for r in assigned if ROLE_REALM.get(r) == realm}
    result = frozenset(roles)
    try:
        setattr(user, _CACHE_ATTR, result)
    except AttributeError:
        pass
    return result


def user_roles_clear(user: Any) -> None:
    """Forget the roles cached on ``user`` (after a grant or revoke in the same request)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def roles_for_user_id(user_id: int) -> frozenset[str]:
    """``user_roles`` for a user known by id (API requests authenticate by token)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.select_related("profile").filter(pk=user_id).first()
    return user_roles(user) if user is not None else frozenset()


def is_staff_roles(roles: Iterable[str]) -> bool:
    return any(ROLE_REALM.get(r) in STAFF_REALMS for r in roles)


def must_mask(roles: Iterable[str], *, revealed: bool = False) -> bool:
    """Whether personal data is shown masked to a holder of ``roles``.

    Customers see their own data in clear (scoping keeps them to their own). MTN staff and
    partners always see it masked. LightWay staff see it masked unless this response is a
    reveal (``revealed=True``) and they hold ``pii.reveal``.
    """
    roles = frozenset(roles)
    if Role.CUSTOMER in roles:
        return False
    if any(ROLE_REALM.get(r) in (Realm.MTN, Realm.PARTNER) for r in roles):
        return True
    return not (revealed and allows(roles, A.PII_REVEAL))


def transfer_scope(
    *, roles: Iterable[str], user_id: int | None, partner_id: int | None = None
) -> Q:
    """The transfers a holder of ``roles`` may see, as a filter on ``Transfer``.

    LightWay staff with ``transactions.view``: all. MTN staff with
    ``transactions.view_momo``: MoMo-routed kinds only. A partner: the transfers made by
    its API clients. A customer: those they made, or that left or reached one of their
    wallets. Several roles: the union. No matching role: nothing.
    """
    roles = frozenset(roles)
    if allows(roles, A.TRANSACTIONS_VIEW):
        return Q()
    nothing = Q(pk__in=[])
    scope = nothing
    if allows(roles, A.TRANSACTIONS_VIEW_MOMO):
        scope |= Q(kind__in=sorted(MOMO_ROUTED_KINDS))
    if allows(roles, A.PARTNER_TRANSFERS) and partner_id is not None:
        scope |= Q(client__profile__partner_id=partner_id)
    if Role.CUSTOMER in roles and user_id is not None:
        scope |= (
            Q(client_id=user_id)
            | Q(source_wallet__owner_id=user_id)
            | Q(destination_wallet__owner_id=user_id)
        )
    return scope


def scope_transfers(
    queryset: QuerySet[Transfer],
    *,
    roles: Iterable[str],
    user_id: int | None,
    partner_id: int | None = None,
) -> QuerySet[Transfer]:
    """``queryset`` narrowed to what the holder of ``roles`` may see (see ``transfer_scope``)."""
    return queryset.filter(transfer_scope(roles=roles, user_id=user_id, partner_id=partner_id))


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (docs/security.md carries exactly this)."""
    roles = list(Role)
    header = "| Action | What it allows | " + " | ".join(f"`{r.value}`" for r in roles) + " |"
    rule = "|---|---|" + "|".join(":-:" for _ in roles) + "|"
    lines = [header, rule]
    for action in Action:
        if action == A.PUBLIC:
            continue
        cells = " | ".join("✓" if action in MATRIX[r] else "" for r in roles)
        lines.append(f"| `{action.value}` | {action.label} | {cells} |")
    return "\n".join(lines) + "\n"
