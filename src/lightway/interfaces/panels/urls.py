"""URL patterns of the panels, included from ``lightway.interfaces.web.urls``.

``/staff/roles/`` and ``/staff/customers/`` belong to the policy pages, ``/app/kyc/`` to
the Sumsub page: nothing here claims them.
"""

from __future__ import annotations

from django.urls import path
from django.views.generic.base import RedirectView

from lightway.interfaces.panels import (
    commission,
    customer,
    customer_account,
    customer_momo,
    customer_money,
    dashboards,
    language,
    momo_staff,
    pwa,
    staff,
)
from lightway.interfaces.panels import reconciliation as recon
from lightway.interfaces.panels.access import public

root = public(RedirectView.as_view(url="/app/", permanent=False))  # type: ignore[arg-type]

customer_patterns = [
    path("", customer.home, name="app-home"),
    path("register/", customer.register, name="app-register"),
    path("verify-phone/", customer.verify_phone, name="app-verify-phone"),
    path("verify-phone/resend/", customer.verify_phone_resend, name="app-verify-phone-resend"),
    path("login/", customer.login, name="app-login"),
    path("login/2fa/", customer.login_second_factor, name="app-login-2fa"),
    path("logout/", customer.logout, name="app-logout"),
    path("wallets/", customer.wallets, name="app-wallets"),
    path("profile/", customer.profile, name="app-profile"),
    path("email/", customer.email, name="app-email"),
    path("email/verify/<str:token>", customer.email_verify, name="app-email-verify"),
    path("security/", customer.security, name="app-security"),
    path("security/totp/", customer.totp_start, name="app-totp-start"),
    path("security/totp/confirm/", customer.totp_confirm, name="app-totp-confirm"),
    path("security/totp/disable/", customer.totp_disable, name="app-totp-disable"),
    path("security/backup-codes/", customer.backup_codes, name="app-backup-codes"),
    path("security/password/", customer.password, name="app-password"),
    path(
        "security/sessions/<uuid:session_id>/end/",
        customer.web_session_end,
        name="app-web-session-end",
    ),
    path(
        "security/sessions/end-others/",
        customer.web_sessions_end_others,
        name="app-web-sessions-end-others",
    ),
    path("notifications/", customer.notifications, name="app-notifications"),
    path("inbox/", customer_account.inbox, name="app-inbox"),
    path("password/forgot/", customer_account.password_forgot, name="app-password-forgot"),
    path("password/reset/", customer_account.password_reset, name="app-password-reset"),
    path("language/", language.language_switch, name="app-language"),
    path("offline/", customer_account.offline, name="app-offline"),
    # MTN MoMo (customer_momo.py): deposit, withdraw, send, status of each payment
    path("momo/", customer_momo.momo_home, name="app-momo"),
    path("momo/deposit/", customer_momo.deposit, name="app-momo-deposit"),
    path("momo/withdraw/", customer_momo.withdraw, name="app-momo-withdraw"),
    path("momo/send/", customer_momo.send, name="app-momo-send"),
    path(
        "momo/transfers/<uuid:transfer_id>/",
        customer_momo.status_page,
        name="app-momo-status",
    ),
    path(
        "momo/transfers/<uuid:transfer_id>/status.json",
        customer_momo.status_json,
        name="app-momo-status-json",
    ),
    # Send to a user, history, detail and receipt, statements (customer_money.py)
    path("send/", customer_money.send, name="app-send"),
    path("history/", customer_money.history, name="app-history"),
    path("history/<uuid:transfer_id>/", customer_money.history_detail, name="app-history-detail"),
    path(
        "history/<uuid:transfer_id>/receipt.pdf",
        customer_money.history_receipt,
        name="app-history-receipt",
    ),
    path("statements/", customer_money.statements, name="app-statements"),
    path("manifest.webmanifest", pwa.manifest, name="app-manifest"),
    path("sw.js", pwa.service_worker, name="app-sw"),
    path("icons/<str:name>", pwa.icon, name="app-icon"),
]

staff_patterns = [
    path("", dashboards.staff_home, name="staff-home"),
    path("live/", dashboards.staff_live, name="staff-live"),
    path("login/", staff.staff_login, name="staff-login"),
    path("logout/", staff.staff_logout, name="staff-logout"),
    path("mfa/", staff.staff_mfa, name="staff-mfa"),
    path("mfa/enrol/", staff.staff_mfa_enrol, name="staff-mfa-enrol"),
    path("mfa/passkey/options/", staff.passkey_auth_options, name="staff-passkey-auth-options"),
    path("mfa/passkey/", staff.passkey_auth, name="staff-passkey-auth"),
    path("security/", staff.staff_security, name="staff-security"),
    path("security/backup-codes/", staff.staff_backup_codes, name="staff-backup-codes"),
    path(
        "security/passkeys/options/",
        staff.passkey_register_options,
        name="staff-passkey-register-options",
    ),
    path("security/passkeys/", staff.passkey_register, name="staff-passkey-register"),
    path(
        "security/passkeys/<int:passkey_id>/remove/",
        staff.staff_passkey_remove,
        name="staff-passkey-remove",
    ),
]

# MoMo operations (momo_staff.py): the same views on /staff/momo/... and /mtn/momo/...
staff_patterns += [
    path("momo/", momo_staff.requests_list, name="staff-momo"),
    path("momo/float/", momo_staff.float_page, name="staff-momo-float"),
    path("momo/float/threshold/", momo_staff.float_threshold, name="staff-momo-float-threshold"),
    path("momo/float/check/", momo_staff.float_check_now, name="staff-momo-float-check"),
    path("momo/analytics/", momo_staff.analytics_page, name="staff-momo-analytics"),
    path("momo/<uuid:reference_id>/", momo_staff.request_detail, name="staff-momo-request"),
]

favicon = pwa.favicon

mtn_patterns = [
    path("", dashboards.mtn_home, name="mtn-home"),
    path("live/", dashboards.mtn_live, name="mtn-live"),
]

mtn_patterns += [
    path("momo/", momo_staff.requests_list, name="mtn-momo"),
    path("momo/float/", momo_staff.float_page, name="mtn-momo-float"),
    path("momo/analytics/", momo_staff.analytics_page, name="mtn-momo-analytics"),
    path("momo/<uuid:reference_id>/", momo_staff.request_detail, name="mtn-momo-request"),
]

# MoMo reconciliation (reconciliation.py): LightWay staff manage it on /staff/reconciliation/,
# MTN staff (reports.view) read the runs and reports on /mtn/reconciliation/.
staff_patterns += [
    path("reconciliation/", recon.staff_runs, name="staff-recon"),
    path("reconciliation/run/", recon.staff_run_start, name="staff-recon-run"),
    path("reconciliation/runs/<int:run_id>/", recon.staff_report, name="staff-recon-report"),
    path(
        "reconciliation/runs/<int:run_id>/report.csv",
        recon.staff_report_csv,
        name="staff-recon-report-csv",
    ),
    path(
        "reconciliation/runs/<int:run_id>/report.json",
        recon.staff_report_json,
        name="staff-recon-report-json",
    ),
    path("reconciliation/statements/", recon.staff_statements, name="staff-recon-statements"),
    path("reconciliation/cases/", recon.staff_cases, name="staff-recon-cases"),
    path(
        "reconciliation/cases/<int:case_id>/assign/",
        recon.staff_case_assign,
        name="staff-recon-case-assign",
    ),
    path(
        "reconciliation/cases/<int:case_id>/resolve/",
        recon.staff_case_resolve,
        name="staff-recon-case-resolve",
    ),
]
mtn_patterns += [
    path("reconciliation/", recon.mtn_runs, name="mtn-recon"),
    path("reconciliation/runs/<int:run_id>/", recon.mtn_report, name="mtn-recon-report"),
    path(
        "reconciliation/runs/<int:run_id>/report.csv",
        recon.mtn_report_csv,
        name="mtn-recon-report-csv",
    ),
    path(
        "reconciliation/runs/<int:run_id>/report.json",
        recon.mtn_report_json,
        name="mtn-recon-report-json",
    ),
]

# Commission statements (commission.py): any party on /staff/commission/, MTN's own on
# /mtn/commission/.
staff_patterns += [
    path("commission/", commission.staff_statement, name="staff-commission"),
]
mtn_patterns += [
    path("commission/", commission.mtn_statement, name="mtn-commission"),
]
