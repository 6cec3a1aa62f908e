"""URL patterns of the panels, included from ``lightway.interfaces.web.urls``.

``/staff/roles/`` and ``/staff/customers/`` belong to the policy pages, ``/app/kyc/`` to
the Sumsub page: nothing here claims them.
"""

from __future__ import annotations

from django.urls import path
from django.views.generic.base import RedirectView

from lightway.interfaces.panels import customer, pwa, staff
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
    path("notifications/", customer.notifications, name="app-notifications"),
    path("manifest.webmanifest", pwa.manifest, name="app-manifest"),
    path("sw.js", pwa.service_worker, name="app-sw"),
    path("icons/<str:name>", pwa.icon, name="app-icon"),
]

staff_patterns = [
    path("", staff.staff_home, name="staff-home"),
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

favicon = pwa.favicon

mtn_patterns = [
    path("", staff.mtn_home, name="mtn-home"),
]
