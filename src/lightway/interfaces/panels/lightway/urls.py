"""URL patterns of the policy's staff pages, included by ``lightway.interfaces.web.urls``
under ``staff/roles/``, ``staff/customers/``, ``staff/integration-keys/``, ``staff/fx/``,
``staff/settlement/``, ``staff/partners/``, ``staff/partner-limits/`` and
``staff/remittances/``, ``staff/compliance/goaml/``, ``staff/reports/``,
``staff/compliance/retention/`` (before the panels' ``staff/``)."""

from __future__ import annotations

from django.urls import path

from lightway.interfaces.panels.lightway import (
    audit,
    backoffice,
    fx,
    goaml,
    notifications,
    partner_limits,
    partners,
    remittances,
    reports,
    retention,
    settlement,
    views,
)

roles_patterns = [
    path("", views.roles, name="staff-roles"),
    path("create/", views.staff_new, name="staff-roles-create"),
    path("grant/", views.role_grant_view, name="staff-roles-grant"),
    path("revoke/", views.role_revoke_view, name="staff-roles-revoke"),
    path("deactivate/", views.staff_deactivate_view, name="staff-roles-deactivate"),
    path("mfa-reset/", views.mfa_reset_request_view, name="staff-roles-mfa-reset"),
    path(
        "mfa-reset/<int:request_id>/approve/",
        views.mfa_reset_approve_view,
        name="staff-roles-mfa-reset-approve",
    ),
    path(
        "mfa-reset/<int:request_id>/reject/",
        views.mfa_reset_reject_view,
        name="staff-roles-mfa-reset-reject",
    ),
]

integration_keys_patterns = [
    path("", views.integration_keys, name="staff-integration-keys"),
    path("create/", views.integration_key_new, name="staff-integration-keys-create"),
    path(
        "<str:key_id>/revoke/",
        views.integration_key_revoke_view,
        name="staff-integration-keys-revoke",
    ),
]

customers_patterns = [
    path("", views.customers, name="staff-customers"),
    path("<str:subject>/", views.customer, name="staff-customer"),
    path("<str:subject>/reveal/", views.customer_reveal, name="staff-customer-reveal"),
    path("<str:subject>/tier/", views.customer_tier, name="staff-customer-tier"),
    path("<str:subject>/notes/", backoffice.customer_note, name="staff-customer-note"),
    path("<str:subject>/actions/", backoffice.customer_action, name="staff-customer-action"),
    path("<str:subject>/limits/", backoffice.customer_limits, name="staff-customer-limits"),
    path("<str:subject>/resend-code/", backoffice.customer_resend, name="staff-customer-resend"),
]

# Back office: transactions (search, list, timeline, CSV, retry/reverse requests) under
# staff/transactions/, and the maker-checker approvals under staff/approvals/
# (panels/lightway/backoffice.py).
transactions_patterns = [
    path("", backoffice.transactions, name="staff-transactions"),
    path("export.csv", backoffice.transactions_export, name="staff-transactions-export"),
    path("<uuid:transfer_id>/", backoffice.transaction, name="staff-transaction"),
    path(
        "<uuid:transfer_id>/actions/",
        backoffice.transaction_action,
        name="staff-transaction-action",
    ),
]

# The audit-log viewer (panels/lightway/audit.py), under staff/audit/.
audit_patterns = [
    path("", audit.audit_list, name="staff-audit"),
    path("export.csv", audit.audit_export, name="staff-audit-export"),
    path("<int:record_id>/", audit.audit_detail, name="staff-audit-record"),
]

approvals_patterns = [
    path("", backoffice.approvals, name="staff-approvals"),
    path("<int:request_id>/approve/", backoffice.approve, name="staff-approval-approve"),
    path("<int:request_id>/reject/", backoffice.reject, name="staff-approval-reject"),
]

fx_patterns = [
    path("", fx.fx_rates, name="staff-fx"),
    path("propose/", fx.fx_propose, name="staff-fx-propose"),
    path("approve/", fx.fx_approve, name="staff-fx-approve"),
    path("reject/", fx.fx_reject, name="staff-fx-reject"),
    path("history/<str:base>/<str:quote>/", fx.fx_history, name="staff-fx-history"),
]

# Settlement (settlement.py), under staff/settlement/
settlement_patterns = [
    path("", settlement.windows, name="staff-settlement"),
    path("windows/<int:window_id>/", settlement.window_detail, name="staff-settlement-window"),
    path(
        "windows/<int:window_id>/close/",
        settlement.window_close_view,
        name="staff-settlement-close",
    ),
    path(
        "windows/<int:window_id>/abort/",
        settlement.window_abort_view,
        name="staff-settlement-abort",
    ),
    path(
        "windows/<int:window_id>/statement/<str:counterparty>/<str:fmt>/",
        settlement.statement_download,
        name="staff-settlement-statement",
    ),
    path(
        "instructions/<int:instruction_id>/reissue/",
        settlement.instruction_reissue_view,
        name="staff-settlement-reissue",
    ),
    path("statements/", settlement.statements, name="staff-settlement-statements"),
    path(
        "statements/reconcile/",
        settlement.statement_reconcile_view,
        name="staff-settlement-reconcile",
    ),
    path(
        "statements/<int:statement_id>/",
        settlement.statement_detail,
        name="staff-settlement-bank-statement",
    ),
]

# Partners (IMTOs): onboarding, status, webhooks (panels/lightway/partners.py), included
# under staff/partners/.
partners_patterns = [
    path("", partners.partners, name="staff-partners"),
    path("new/", partners.partner_new, name="staff-partners-new"),
    path("<slug:code>/", partners.partner_detail, name="staff-partner"),
    path("<slug:code>/edit/", partners.partner_edit, name="staff-partner-edit"),
    path("<slug:code>/status/", partners.partner_status, name="staff-partner-status"),
    path("<slug:code>/contacts/", partners.partner_contact_new, name="staff-partner-contact-add"),
    path(
        "<slug:code>/contacts/<str:ref>/remove/",
        partners.partner_contact_delete,
        name="staff-partner-contact-remove",
    ),
    path(
        "<slug:code>/webhook-secret/",
        partners.partner_webhook_rotate,
        name="staff-partner-webhook-rotate",
    ),
    path("<slug:code>/api-keys/", partners.partner_api_key_new, name="staff-partner-api-key-new"),
    path(
        "<slug:code>/api-keys/<str:key_id>/revoke/",
        partners.partner_api_key_revoke,
        name="staff-partner-api-key-revoke",
    ),
    path("<slug:code>/redeliver/", partners.partner_redeliver, name="staff-partner-redeliver"),
    path(
        "<slug:code>/redeliver-dead/",
        partners.partner_redeliver_dead,
        name="staff-partner-redeliver-dead",
    ),
]

# Partners' remittance limits (partner_limits.py), under staff/partner-limits/
partner_limits_patterns = [
    path("", partner_limits.partner_limits_page, name="staff-partner-limits"),
]

# Partners' remittances and their maker-checker reversals (remittances.py), under
# staff/remittances/
remittances_patterns = [
    path("", remittances.remittances, name="staff-remittances"),
    path("<uuid:remittance_id>/", remittances.remittance_detail, name="staff-remittance"),
    path(
        "<uuid:remittance_id>/reverse/",
        remittances.reversal_request,
        name="staff-remittance-reverse",
    ),
    path(
        "reversals/<int:reversal_id>/approve/",
        remittances.reversal_approve,
        name="staff-remittance-reversal-approve",
    ),
    path(
        "reversals/<int:reversal_id>/reject/",
        remittances.reversal_reject,
        name="staff-remittance-reversal-reject",
    ),
]

# goAML regulatory export (goaml.py): compliance officers only (goaml.export).
goaml_patterns = [
    path("", goaml.goaml_page, name="staff-goaml"),
    path("<int:file_id>/download", goaml.goaml_download, name="staff-goaml-download"),
]

# The platform's reports (reports.py) under staff/reports/
reports_patterns = [
    path("", reports.reports, name="staff-reports"),
    path("<int:run_id>/", reports.run_page, name="staff-report-run"),
    path("<int:run_id>/status/", reports.run_status, name="staff-report-status"),
    path("<int:run_id>/download/", reports.run_download, name="staff-report-download"),
]

# Retention: policies, legal holds, runs (retention.py), under staff/compliance/retention/
retention_patterns = [
    path("", retention.retention_page, name="staff-retention"),
    path("holds/", retention.hold_place_view, name="staff-retention-hold-place"),
    path("holds/release/", retention.hold_release_view, name="staff-retention-hold-release"),
]

# The notification delivery log (notifications.py) at staff/notifications/
notifications_page = notifications.delivery_log_page
