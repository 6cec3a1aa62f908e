"""Django settings, read from the environment (see docs/operations.md for every variable)."""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured

from lightway.infrastructure import embedded_pg
from lightway.infrastructure.config import (
    Env,
    database_from_url,
    fx_max_ages,
    fx_pairs,
    fx_spreads,
    local_url,
)
from lightway.infrastructure.logs import logging_config

DEBUG = Env.bool("LIGHTWAY_DEBUG", False)
SECRET_KEY = Env.str("LIGHTWAY_SECRET_KEY", "dev-only-insecure-secret-key-change-me-in-production")
ALLOWED_HOSTS = Env.str("LIGHTWAY_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")

# DATABASE_URL: the runtime role every process connects as. DATABASE_OWNER_URL: the role
# that owns the schema; `lightway migrate` (and the migrate step of `up`) connects as it and
# then grants the runtime role what it needs (infrastructure/db_roles.py). Unset, migrations
# use DATABASE_URL (one role: development only; `lightway check` says so). Both unset: the
# embedded server, whose superuser owns the schema and whose runtime role is lightway_app.
# LIGHTWAY_NO_DATABASE=1 with DATABASE_URL unset: a command that needs no database
# (`lightway simulators` run alone, type checking) starts no embedded server; a query fails.
if os.environ.get("DATABASE_URL"):
    DATABASE_URL = os.environ["DATABASE_URL"]
    DATABASE_OWNER_URL = os.environ.get("DATABASE_OWNER_URL", "")
elif os.environ.get(embedded_pg.NO_DATABASE_ENV) == "1":
    DATABASE_URL = embedded_pg.NO_DATABASE_URL
    DATABASE_OWNER_URL = ""
else:
    _embedded = embedded_pg.ensure_urls()
    DATABASE_URL = _embedded.runtime
    DATABASE_OWNER_URL = os.environ.get("DATABASE_OWNER_URL") or _embedded.owner
    # child processes (web server, worker) find the same server and roles
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ["DATABASE_OWNER_URL"] = DATABASE_OWNER_URL
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "procrastinate.contrib.django",
    "ninja",  # serves Swagger UI from static files (the CSP allows no CDN)
    "lightway.data.ledger",
    "lightway.data.audit",
    "lightway.data.commission",
    "lightway.data.wallets",
    "lightway.data.identity",
    "lightway.data.kyc",
    "lightway.data.notify",
    "lightway.data.momo",
    "lightway.data.reconciliation",
    "lightway.data.intake",
    "lightway.data.partners",
    "lightway.data.fx",
    "lightway.data.settlement",
    "lightway.data.remittances",
    "lightway.data.analytics",
    "lightway.data.backoffice",
    "lightway.data.goaml",
    "lightway.data.reports",
    "lightway.data.retention",
    "lightway.data.archive",
    "lightway.data.aml",
    "lightway.security",
    "lightway.security.apiauth",
    "lightway.security.mfa",
    "lightway.interfaces.panels",
    "django_otp",
    # not django_otp.plugins.otp_totp: it keeps TOTP keys in clear (lightway.security.mfa
    # has TotpDevice, its key sealed; issue 11, finding 2)
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "lightway.interfaces.web.middleware.RequestMetricsMiddleware",  # outermost: times all
    "lightway.interfaces.api.errors.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lightway.interfaces.web.security_headers.SecurityHeadersMiddleware",
    "lightway.interfaces.web.middleware.HostileInputMiddleware",  # NUL, deep JSON: 400
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # The customer panel's language (profile, switch, Accept-Language); English elsewhere.
    "lightway.interfaces.panels.language.PanelLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "lightway.interfaces.panels.middleware.IdleTimeoutMiddleware",
    "lightway.interfaces.panels.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# What a bearer-token API request (/api/...) goes through instead (interfaces/web/wsgi.py):
# no session, CSRF, user, second factor, messages or idle timeout.
API_MIDDLEWARE = [
    "lightway.interfaces.web.middleware.RequestMetricsMiddleware",
    "lightway.interfaces.api.errors.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lightway.interfaces.web.security_headers.SecurityHeadersMiddleware",
    "lightway.interfaces.web.middleware.HostileInputMiddleware",
    "django.middleware.common.CommonMiddleware",
    "lightway.interfaces.api.guards.ApiRequestGuardMiddleware",
]

ROOT_URLCONF = "lightway.interfaces.web.urls"
WSGI_APPLICATION = "lightway.interfaces.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lightway.interfaces.panels.context.panel_context",
            ]
        },
    }
]

# Sign-in by username/password (ModelBackend); Django model permissions also come from the
# authorization policy's roles (docs/security.md), so the admin needs no Django groups.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "lightway.security.backends.PolicyPermissionBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # verifies hashes made before Argon2
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The customer panel speaks English and French (docs/panels.md, "Languages"); staff pages and
# the API stay English. Catalogues: src/lightway/locale/<lang>/LC_MESSAGES/django.po (+ .mo).
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [os.path.join(os.path.dirname(os.path.dirname(__file__)), "locale")]
LANGUAGE_COOKIE_NAME = "lw_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = str(embedded_pg.var_dir() / "static")
# The panels' front-end libraries come from the npm registry (package.json and
# package-lock.json at the top of the checkout; `make install` runs `npm ci`) and are served
# from this site like any static file, under static/vendor/<name>/: no CDN at run time.
# LIGHTWAY_NODE_MODULES says where node_modules is when it is not beside pyproject.toml.
NODE_MODULES = Env.str(
    "LIGHTWAY_NODE_MODULES",
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "node_modules"),
)
FRONTEND_LIBRARIES = {
    # static prefix: folder inside node_modules
    "vendor/htmx": "htmx.org/dist",
    "vendor/chartjs": "chart.js/dist",
}
STATICFILES_DIRS = [
    (prefix, os.path.join(NODE_MODULES, folder)) for prefix, folder in FRONTEND_LIBRARIES.items()
]

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a TLS-terminating proxy: the origins browsers use (https://admin.example.com,...)
# and whether to trust the proxy's X-Forwarded-Proto header.
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in Env.str("LIGHTWAY_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
if Env.bool("LIGHTWAY_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
# Web panel sessions (docs/panels.md): Lax cookies, CSRF cookie out of reach of scripts,
# sessions end 12 h after sign-in however active (the panels' middleware enforces it) and
# after an idle time (staff 15 min, customers 30 min); the worker prunes expired ones hourly.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = Env.int("LIGHTWAY_SESSION_MAX_SECONDS", 12 * 3600)
LIGHTWAY_STAFF_IDLE_SECONDS = Env.int("LIGHTWAY_STAFF_IDLE_SECONDS", 900)
LIGHTWAY_CUSTOMER_IDLE_SECONDS = Env.int("LIGHTWAY_CUSTOMER_IDLE_SECONDS", 1800)
# The address customers and staff use: the one source of every link the platform prints or
# sends (the `lightway up` banner, CLI output, email links) and the WebAuthn origin; the
# WebAuthn relying party id ("" = the host of LIGHTWAY_PUBLIC_URL). Default: where the web
# server listens on this machine (LIGHTWAY_HOST, LIGHTWAY_PORT), http://127.0.0.1:8000.
LIGHTWAY_PUBLIC_URL = Env.str(
    "LIGHTWAY_PUBLIC_URL",
    local_url(Env.str("LIGHTWAY_HOST", "127.0.0.1"), Env.int("LIGHTWAY_PORT", 8000)),
).rstrip("/")
LIGHTWAY_WEBAUTHN_RP_ID = Env.str("LIGHTWAY_WEBAUTHN_RP_ID", "")
LIGHTWAY_TERMS_VERSION = Env.str("LIGHTWAY_TERMS_VERSION", "2026-01")
LIGHTWAY_HSTS_SECONDS = Env.int("LIGHTWAY_HSTS_SECONDS", 31536000)
OTP_TOTP_ISSUER = "LightWay MoMo"

# Personal data protection (docs/security.md). Unset = fixed development keys, which
# `lightway check` reports as a warning; production must set both.
LIGHTWAY_DATA_KEYS = Env.str("LIGHTWAY_DATA_KEYS", "")
LIGHTWAY_BLIND_INDEX_KEY = Env.str("LIGHTWAY_BLIND_INDEX_KEY", "")
# Backups (docs/operations.md, "Backup and restore"): the key that seals `lightway backup
# --encrypt` (base64 of 32 bytes; kept apart from the backups) and where backups go
# ("" = var/backups).
LIGHTWAY_BACKUP_KEY = Env.str("LIGHTWAY_BACKUP_KEY", "")
LIGHTWAY_BACKUP_DIR = Env.str("LIGHTWAY_BACKUP_DIR", "")
# Benchmark only (docs/performance.md, "HTTP floor"): mounts POST /api/v1/bench/floor-transfer,
# which moves money between any two UGX ledger accounts with no check but the ledger's. Off by
# default; refused when LIGHTWAY_DEBUG is off and data keys are configured (what production
# must set, `lightway check`), so it cannot be left on in a real deployment.
LIGHTWAY_BENCH_FLOOR = Env.bool("LIGHTWAY_BENCH_FLOOR", False)
if LIGHTWAY_BENCH_FLOOR and not DEBUG and (LIGHTWAY_DATA_KEYS or LIGHTWAY_BLIND_INDEX_KEY):
    raise ImproperlyConfigured(
        "LIGHTWAY_BENCH_FLOOR is for benchmarks only and is refused in production"
        " (LIGHTWAY_DATA_KEYS or LIGHTWAY_BLIND_INDEX_KEY set, LIGHTWAY_DEBUG off)"
    )
# Lockout with backoff (passwords, SMS codes, TOTP, backup codes) and one-time codes.
LIGHTWAY_LOCKOUT_FREE_ATTEMPTS = Env.int("LIGHTWAY_LOCKOUT_FREE_ATTEMPTS", 5)
LIGHTWAY_LOCKOUT_BASE_SECONDS = Env.int("LIGHTWAY_LOCKOUT_BASE_SECONDS", 30)
LIGHTWAY_LOCKOUT_MAX_SECONDS = Env.int("LIGHTWAY_LOCKOUT_MAX_SECONDS", 3600)
LIGHTWAY_OTP_TTL_SECONDS = Env.int("LIGHTWAY_OTP_TTL_SECONDS", 300)
LIGHTWAY_OTP_MAX_ATTEMPTS = Env.int("LIGHTWAY_OTP_MAX_ATTEMPTS", 5)
LIGHTWAY_EMAIL_LINK_TTL_SECONDS = Env.int("LIGHTWAY_EMAIL_LINK_TTL_SECONDS", 86400)
# Rate limits per hour (security/ratelimit.py; 0 = no limit): registrations per client
# address; SMS-sending requests (registration, code resend, login codes, step-up) per client
# address and SMS per phone number. An unverified registration reserves nothing and cannot
# be verified (nor sent a new code) after LIGHTWAY_REGISTRATION_PENDING_SECONDS.
LIGHTWAY_RATE_REGISTER_PER_CLIENT_HOUR = Env.int("LIGHTWAY_RATE_REGISTER_PER_CLIENT_HOUR", 10)
LIGHTWAY_RATE_SMS_PER_CLIENT_HOUR = Env.int("LIGHTWAY_RATE_SMS_PER_CLIENT_HOUR", 20)
LIGHTWAY_RATE_SMS_PER_PHONE_HOUR = Env.int("LIGHTWAY_RATE_SMS_PER_PHONE_HOUR", 5)
LIGHTWAY_REGISTRATION_PENDING_SECONDS = Env.int("LIGHTWAY_REGISTRATION_PENDING_SECONDS", 86400)
# Reverse proxies in front of the web server whose X-Forwarded-For entries are trusted (the
# client address of rate limits is the entry that many places from the right; 0 = none).
LIGHTWAY_PROXY_HOPS = Env.int("LIGHTWAY_PROXY_HOPS", 0)

# Unauthenticated intake (issue 11 findings 6 and 8, docs/operations.md): webhook requests per
# client address ("requests/seconds"), stored MoMo callbacks per reference, JSON nesting.
LIGHTWAY_WEBHOOK_RATE_MOMO = Env.str("LIGHTWAY_WEBHOOK_RATE_MOMO", "600/60")
LIGHTWAY_WEBHOOK_RATE_SUMSUB = Env.str("LIGHTWAY_WEBHOOK_RATE_SUMSUB", "120/60")
LIGHTWAY_WEBHOOK_RATE_SETTLEMENT = Env.str("LIGHTWAY_WEBHOOK_RATE_SETTLEMENT", "120/60")
LIGHTWAY_WEBHOOK_RATE_SMS = Env.str("LIGHTWAY_WEBHOOK_RATE_SMS", "1200/60")
LIGHTWAY_MOMO_CALLBACKS_PER_REFERENCE = Env.int("LIGHTWAY_MOMO_CALLBACKS_PER_REFERENCE", 10)
LIGHTWAY_JSON_MAX_DEPTH = Env.int("LIGHTWAY_JSON_MAX_DEPTH", 64)
for _name in (
    "LIGHTWAY_WEBHOOK_RATE_MOMO",
    "LIGHTWAY_WEBHOOK_RATE_SUMSUB",
    "LIGHTWAY_WEBHOOK_RATE_SETTLEMENT",
    "LIGHTWAY_WEBHOOK_RATE_SMS",
):
    if not re.fullmatch(r"\d+/[1-9]\d*", globals()[_name].strip()):
        raise ImproperlyConfigured(f"{_name} must look like '600/60' (requests/seconds)")

# Notifications (docs/notifications.md). SMS go through Africa's Talking and Twilio
# (issue 15): a provider takes part once its base URL is set ("" = not configured; https://
# is required except for loopback hosts, i.e. the simulator); LIGHTWAY_SMS_ROUTES names the
# providers to try per country, in order ("UG=africastalking,twilio;*=twilio"; "*" for
# every other country). A provider's circuit opens after BREAKER_FAILURES consecutive
# temporary failures and lets one trial through every BREAKER_SECONDS.
# Email goes over SMTP to LIGHTWAY_SMTP_HOST ("" = not configured).
LIGHTWAY_SMS_ROUTES = Env.str("LIGHTWAY_SMS_ROUTES", "*=africastalking,twilio")
LIGHTWAY_SMS_TIMEOUT_SECONDS = Env.int("LIGHTWAY_SMS_TIMEOUT_SECONDS", 10)
LIGHTWAY_SMS_BREAKER_FAILURES = Env.int("LIGHTWAY_SMS_BREAKER_FAILURES", 5)
LIGHTWAY_SMS_BREAKER_SECONDS = Env.int("LIGHTWAY_SMS_BREAKER_SECONDS", 60)
# Africa's Talking: live https://api.africastalking.com, sandbox
# https://api.sandbox.africastalking.com (username "sandbox"). Sender ids per country
# ("UG=LIGHTWAY;*=LightWay"). Delivery reports: set the account's callback URL to
# <public base>/webhooks/sms/africastalking/<AFRICASTALKING_WEBHOOK_TOKEN>.
AFRICASTALKING_BASE_URL = Env.str("AFRICASTALKING_BASE_URL", "")
AFRICASTALKING_USERNAME = Env.str("AFRICASTALKING_USERNAME", "sandbox")
AFRICASTALKING_API_KEY = Env.str("AFRICASTALKING_API_KEY", "lightway-demo-africastalking-key")
AFRICASTALKING_SENDER_IDS = Env.str("AFRICASTALKING_SENDER_IDS", "*=LightWay")
AFRICASTALKING_WEBHOOK_TOKEN = Env.str(
    "AFRICASTALKING_WEBHOOK_TOKEN", "lightway-demo-africastalking-webhook-token"
)
# Twilio: https://api.twilio.com. Senders per country (a number or an alphanumeric id),
# or a Messaging Service. Delivery reports come to TWILIO_STATUS_CALLBACK_URL, which must
# be exactly <public base>/webhooks/sms/twilio: the signature covers the URL.
TWILIO_BASE_URL = Env.str("TWILIO_BASE_URL", "")
TWILIO_ACCOUNT_SID = Env.str("TWILIO_ACCOUNT_SID", "AC" + "1ac0ffee" * 4)
TWILIO_AUTH_TOKEN = Env.str("TWILIO_AUTH_TOKEN", "lightway-demo-twilio-token")
TWILIO_SENDERS = Env.str("TWILIO_SENDERS", "*=LightWay")
TWILIO_MESSAGING_SERVICE_SID = Env.str("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_STATUS_CALLBACK_URL = Env.str("TWILIO_STATUS_CALLBACK_URL", "")
LIGHTWAY_SMTP_HOST = Env.str("LIGHTWAY_SMTP_HOST", "")
LIGHTWAY_SMTP_PORT = Env.int("LIGHTWAY_SMTP_PORT", 1025)  # the simulator's SMTP port
LIGHTWAY_SMTP_USER = Env.str("LIGHTWAY_SMTP_USER", "")
LIGHTWAY_SMTP_PASSWORD = Env.str("LIGHTWAY_SMTP_PASSWORD", "")
LIGHTWAY_SMTP_STARTTLS = Env.bool("LIGHTWAY_SMTP_STARTTLS", False)
LIGHTWAY_SMTP_TIMEOUT_SECONDS = Env.int("LIGHTWAY_SMTP_TIMEOUT_SECONDS", 10)
LIGHTWAY_EMAIL_FROM = Env.str("LIGHTWAY_EMAIL_FROM", "LightWay <no-reply@lightway.example>")
# Retries: exponential backoff with jitter from BASE seconds up to MAX seconds between
# attempts, at most MAX_ATTEMPTS attempts; a delivery left "sending" longer than
# SENDING_TIMEOUT seconds (its worker died) is tried again.
LIGHTWAY_NOTIFY_MAX_ATTEMPTS = Env.int("LIGHTWAY_NOTIFY_MAX_ATTEMPTS", 6)
LIGHTWAY_NOTIFY_RETRY_BASE_SECONDS = Env.int("LIGHTWAY_NOTIFY_RETRY_BASE_SECONDS", 10)
LIGHTWAY_NOTIFY_RETRY_MAX_SECONDS = Env.int("LIGHTWAY_NOTIFY_RETRY_MAX_SECONDS", 600)
LIGHTWAY_NOTIFY_SENDING_TIMEOUT_SECONDS = Env.int("LIGHTWAY_NOTIFY_SENDING_TIMEOUT_SECONDS", 120)

# Partner webhooks (docs/partner-webhooks.md). A delivery is acknowledged by a 2xx within
# TIMEOUT seconds (connect, each read and the whole attempt); otherwise it is tried again
# after min(RETRY_BASE * 2^(n-1), RETRY_MAX) seconds plus up to 10% jitter, MAX_ATTEMPTS
# times in all (defaults: 25 attempts over about 3.6 days), then dead-lettered. A delivery
# left "sending" for SENDING_TIMEOUT seconds (its worker died) is tried again. A rotated
# webhook secret keeps signing for KEY_OVERLAP seconds by default (at most 30 days).
LIGHTWAY_WEBHOOK_TIMEOUT_SECONDS = Env.int("LIGHTWAY_WEBHOOK_TIMEOUT_SECONDS", 5)
LIGHTWAY_WEBHOOK_MAX_ATTEMPTS = Env.int("LIGHTWAY_WEBHOOK_MAX_ATTEMPTS", 25)
LIGHTWAY_WEBHOOK_RETRY_BASE_SECONDS = Env.int("LIGHTWAY_WEBHOOK_RETRY_BASE_SECONDS", 15)
LIGHTWAY_WEBHOOK_RETRY_MAX_SECONDS = Env.int("LIGHTWAY_WEBHOOK_RETRY_MAX_SECONDS", 21600)
LIGHTWAY_WEBHOOK_SENDING_TIMEOUT_SECONDS = Env.int("LIGHTWAY_WEBHOOK_SENDING_TIMEOUT_SECONDS", 60)
LIGHTWAY_WEBHOOK_KEY_OVERLAP_SECONDS = Env.int("LIGHTWAY_WEBHOOK_KEY_OVERLAP_SECONDS", 86400)
# The demo partner's webhook URL (demo seed): "" = the webhook receiver simulator that
# `lightway up` starts on LIGHTWAY_SIM_WEBHOOKS_PORT (8113); set it to use a receiver of yours.
LIGHTWAY_DEMO_WEBHOOK_URL = Env.str("LIGHTWAY_DEMO_WEBHOOK_URL", "")
# Partner statements: a UTC day's statement is cut this many seconds after midnight (time
# for requests that read the clock before midnight to commit).
LIGHTWAY_STATEMENT_CUT_DELAY_SECONDS = Env.int("LIGHTWAY_STATEMENT_CUT_DELAY_SECONDS", 300)

# API authentication (docs/api.md "Authentication"). Access tokens are HMAC-SHA256 signed
# with LIGHTWAY_ACCESS_TOKEN_KEY (base64, >= 32 bytes; "" = derived from SECRET_KEY).
LIGHTWAY_ACCESS_TOKEN_SECONDS = Env.int("LIGHTWAY_ACCESS_TOKEN_SECONDS", 300)
LIGHTWAY_ACCESS_TOKEN_KEY = Env.str("LIGHTWAY_ACCESS_TOKEN_KEY", "")
LIGHTWAY_REFRESH_TOKEN_SECONDS = Env.int("LIGHTWAY_REFRESH_TOKEN_SECONDS", 30 * 86400)
LIGHTWAY_SIGNATURE_WINDOW_SECONDS = Env.int("LIGHTWAY_SIGNATURE_WINDOW_SECONDS", 300)
# Longest path and query an API request may have (414 uri_too_long beyond; docs/api.md
# "Requests"). Keep it below the web server's request-line limit (gunicorn_conf.py).
LIGHTWAY_API_MAX_URI_LENGTH = Env.int("LIGHTWAY_API_MAX_URI_LENGTH", 4096)

# Integration keys (machine credentials of MTN's and LightWay's reporting systems) expire
# at most this many days after they are created (docs/operations.md "Integration keys").
LIGHTWAY_INTEGRATION_KEY_MAX_DAYS = Env.int("LIGHTWAY_INTEGRATION_KEY_MAX_DAYS", 90)
# Step-up (SMS code) above these amounts, in minor units, per currency ("" = the defaults
# in lightway.application.authentication.step_up: UGX 1,000,000, GHS 2,000.00, ...).
LIGHTWAY_STEP_UP_AMOUNT_MINOR = Env.str("LIGHTWAY_STEP_UP_AMOUNT_MINOR", "")

# Platform settings
# Checked on every payment (docs/security.md "KYC tiers and limits"); "" = the KYC tier
# limits (lightway.application.kyc.tiers.KycTierLimits, imported by application.payments).
LIGHTWAY_LIMITS_POLICY = Env.str("LIGHTWAY_LIMITS_POLICY", "")
LIGHTWAY_MAX_AMOUNT_MINOR = Env.int("LIGHTWAY_MAX_AMOUNT_MINOR", 10**15)
# Seconds a process keeps the fee schedules of a scope (0 = read them on every transaction).
LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS = Env.int("LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS", 5)
# AML (docs/aml.md): the inline rules inside every payment (off only to measure their
# cost, benchmarks/transfers.py) and how long a process keeps the rules in force.
LIGHTWAY_AML_INLINE = Env.bool("LIGHTWAY_AML_INLINE", True)
LIGHTWAY_AML_CACHE_SECONDS = Env.int("LIGHTWAY_AML_CACHE_SECONDS", 10)
# The FIU whose goAML STR an approved filing becomes at once (docs/aml.md; "" = none: STRs
# are generated from /staff/compliance/goaml/ or `lightway export goaml --report STR`).
LIGHTWAY_AML_STR_FIU = Env.str("LIGHTWAY_AML_STR_FIU", "demo")
# Sanctions name matching threshold (0-100) when no sanctions_screening rule is in force.
LIGHTWAY_AML_SANCTIONS_THRESHOLD = Env.int("LIGHTWAY_AML_SANCTIONS_THRESHOLD", 88)

# LIGHTWAY_LOG_FORMAT (json | console), LIGHTWAY_LOG_FILE, LIGHTWAY_LOG_CONSOLE_LEVEL:
# infrastructure/logs.py and docs/operations.md, "Logs".
LOGGING = logging_config(
    {
        "lightway": {"level": Env.str("LIGHTWAY_LOG_LEVEL", "INFO").upper(), "propagate": True},
        # httpx logs every request URL at INFO; MoMo account-holder URLs carry phone numbers.
        "httpx": {"level": "WARNING", "propagate": True},
    },
    root_level=Env.str("LIGHTWAY_LOG_LEVEL", "WARNING").upper(),
)

# Runtime: web server, worker, jobs, metrics (lightway up / serve / worker)
LIGHTWAY_HOST = Env.str("LIGHTWAY_HOST", "127.0.0.1")
LIGHTWAY_PORT = Env.int("LIGHTWAY_PORT", 8000)
LIGHTWAY_WEB_WORKERS = Env.int("LIGHTWAY_WEB_WORKERS", min(max(os.cpu_count() or 1, 2), 8))
LIGHTWAY_WEB_THREADS = Env.int("LIGHTWAY_WEB_THREADS", 4)
# The HTTP server of `lightway serve` / `up`: granian (the default: measured faster on the
# API, docs/performance.md) or gunicorn (docs/operations.md).
LIGHTWAY_WEB_SERVER = Env.str("LIGHTWAY_WEB_SERVER", "granian")
if LIGHTWAY_WEB_SERVER not in ("gunicorn", "granian"):
    raise ImproperlyConfigured(
        f"LIGHTWAY_WEB_SERVER is {LIGHTWAY_WEB_SERVER!r}: it must be gunicorn or granian"
    )
LIGHTWAY_WEB_TIMEOUT = Env.int("LIGHTWAY_WEB_TIMEOUT", 30)
LIGHTWAY_WORKER_CONCURRENCY = Env.int("LIGHTWAY_WORKER_CONCURRENCY", 4)
LIGHTWAY_AUDIT_LINK_INTERVAL_MS = Env.int("LIGHTWAY_AUDIT_LINK_INTERVAL_MS", 500)
# Signed audit checkpoints (docs/security.md, "Signed checkpoints"): the Ed25519 private key
# (PKCS#8 PEM or base64 of the 32-byte seed; unset = a development key under var/audit/) and
# older public keys still accepted when verifying (comma-separated; key rotation).
LIGHTWAY_AUDIT_SIGNING_KEY = Env.str("LIGHTWAY_AUDIT_SIGNING_KEY", "")
LIGHTWAY_AUDIT_VERIFY_KEYS = Env.str("LIGHTWAY_AUDIT_VERIFY_KEYS", "")
LIGHTWAY_JOBS_KEEP_HOURS = Env.int("LIGHTWAY_JOBS_KEEP_HOURS", 72)
# Admin lists count at most this many rows ("10000+"), so no page reads a whole table.
LIGHTWAY_ADMIN_COUNT_CAP = Env.int("LIGHTWAY_ADMIN_COUNT_CAP", 10_000)
LIGHTWAY_STOP_TIMEOUT = Env.int("LIGHTWAY_STOP_TIMEOUT", 30)
LIGHTWAY_SERVE_STATIC = Env.bool("LIGHTWAY_SERVE_STATIC", True)
LIGHTWAY_METRICS_TOKEN = Env.str("LIGHTWAY_METRICS_TOKEN", "")
PROCRASTINATE_IMPORT_PATHS = ["lightway.interfaces.tasks"]
# Analytics rollups (docs/operations.md, "Analytics rollups"): how often a process writes
# the latency samples it counted, and how long minute and hour rows are kept.
LIGHTWAY_ANALYTICS_FLUSH_SECONDS = Env.int("LIGHTWAY_ANALYTICS_FLUSH_SECONDS", 5)
LIGHTWAY_ANALYTICS_MINUTE_RETENTION_HOURS = Env.int("LIGHTWAY_ANALYTICS_MINUTE_RETENTION_HOURS", 48)
LIGHTWAY_ANALYTICS_HOUR_RETENTION_DAYS = Env.int("LIGHTWAY_ANALYTICS_HOUR_RETENTION_DAYS", 90)

# Sumsub KYC (docs/kyc.md). Unset SUMSUB_BASE_URL = not configured (identity checks are
# unavailable, `lightway check` skips it); `lightway up` points it at the local simulator
# (`lightway simulators`, http://127.0.0.1:8103 by default). The token and
# secrets default to demo values the simulator also uses, never valid at Sumsub.
# Production: https://api.sumsub.com, the app token and secret key from the Sumsub
# dashboard, and the webhook's own secret key.
SUMSUB_BASE_URL = Env.str("SUMSUB_BASE_URL", "")
SUMSUB_APP_TOKEN = Env.str("SUMSUB_APP_TOKEN", "sbx:lightway-demo-app-token")
SUMSUB_SECRET_KEY = Env.str("SUMSUB_SECRET_KEY", "lightway-demo-sumsub-secret-key")
SUMSUB_LEVEL_NAME = Env.str("SUMSUB_LEVEL_NAME", "basic-kyc-level")
SUMSUB_WEBHOOK_SECRET = Env.str("SUMSUB_WEBHOOK_SECRET", "lightway-demo-sumsub-webhook-secret")
SUMSUB_SDK_TOKEN_TTL = Env.int("SUMSUB_SDK_TOKEN_TTL", 600)

# MTN MoMo (docs/momo.md). Unset MOMO_BASE_URL = not configured (deposits, withdrawals and
# payouts are unavailable, `lightway check` skips it); `lightway up` points it at the local
# simulator (`lightway simulators`, http://127.0.0.1:8104 by default) and provisions the API
# user's key there exactly as on MTN's sandbox. Production: https://proxy.momoapi.mtn.com,
# the subscription keys of each product from the MoMo developer portal and the API user and
# key MTN issues per product (MOMO_<PRODUCT>_API_USER/_API_KEY override the shared pair).
MOMO_BASE_URL = Env.str("MOMO_BASE_URL", "")
# currency:X-Target-Environment pairs; a transaction's currency picks its market.
MOMO_ENVIRONMENTS = Env.str(
    "MOMO_ENVIRONMENTS",
    "UGX:mtnuganda,GHS:mtnghana,XAF:mtncameroon,RWF:mtnrwanda,ZMW:mtnzambia,"
    "XOF:mtnivorycoast,EUR:sandbox",
)
MOMO_API_USER = Env.str("MOMO_API_USER", "")
MOMO_API_KEY = Env.str("MOMO_API_KEY", "")
MOMO_COLLECTION_API_USER = Env.str("MOMO_COLLECTION_API_USER", "")
MOMO_COLLECTION_API_KEY = Env.str("MOMO_COLLECTION_API_KEY", "")
MOMO_DISBURSEMENT_API_USER = Env.str("MOMO_DISBURSEMENT_API_USER", "")
MOMO_DISBURSEMENT_API_KEY = Env.str("MOMO_DISBURSEMENT_API_KEY", "")
MOMO_REMITTANCE_API_USER = Env.str("MOMO_REMITTANCE_API_USER", "")
MOMO_REMITTANCE_API_KEY = Env.str("MOMO_REMITTANCE_API_KEY", "")
# Demo subscription keys: 32 hex digits like MTN's, the simulator's defaults
# (integration/momo/simulator.py DEFAULT_SUBSCRIPTION_KEYS; a test keeps them equal). Never
# valid at MTN.
MOMO_SUBSCRIPTION_KEY_COLLECTION = Env.str(
    "MOMO_SUBSCRIPTION_KEY_COLLECTION", "de40c011ec7100000000000000000001"
)
MOMO_SUBSCRIPTION_KEY_DISBURSEMENT = Env.str(
    "MOMO_SUBSCRIPTION_KEY_DISBURSEMENT", "de40d15b000000000000000000000002"
)
MOMO_SUBSCRIPTION_KEY_REMITTANCE = Env.str(
    "MOMO_SUBSCRIPTION_KEY_REMITTANCE", "de40ae31700000000000000000000003"
)
# Where MoMo sends callbacks: <MOMO_CALLBACK_URL>/<referenceId>. Its host must equal the
# API user's providerCallbackHost. Empty = no X-Callback-Url (status reads only).
MOMO_CALLBACK_URL = Env.str("MOMO_CALLBACK_URL", "")
MOMO_TIMEOUT_SECONDS = Env.int("MOMO_TIMEOUT_SECONDS", 15)
MOMO_TOKEN_TIMEOUT_SECONDS = Env.int("MOMO_TOKEN_TIMEOUT_SECONDS", 30)
MOMO_TOKEN_REFRESH_MARGIN_SECONDS = Env.int("MOMO_TOKEN_REFRESH_MARGIN_SECONDS", 600)
MOMO_SUBMIT_MAX_ATTEMPTS = Env.int("MOMO_SUBMIT_MAX_ATTEMPTS", 6)
# First status read this long after acceptance (callbacks usually arrive first), then
# backing off up to MOMO_POLL_MAX_SECONDS.
MOMO_POLL_FIRST_SECONDS = Env.int("MOMO_POLL_FIRST_SECONDS", 20)
MOMO_POLL_MAX_SECONDS = Env.int("MOMO_POLL_MAX_SECONDS", 300)
# A 404 on a status read this soon after the 202 is treated as "not visible yet" (§14.5).
MOMO_NOT_FOUND_GRACE_SECONDS = Env.int("MOMO_NOT_FOUND_GRACE_SECONDS", 60)
# Request-to-pay waits for the customer's approval; past this it is failed (momo_expired).
MOMO_COLLECTION_DEADLINE_SECONDS = Env.int("MOMO_COLLECTION_DEADLINE_SECONDS", 900)
# Outbound payments still PENDING past this are flagged for review, never auto-failed.
MOMO_DISBURSEMENT_DEADLINE_SECONDS = Env.int("MOMO_DISBURSEMENT_DEADLINE_SECONDS", 3600)
MOMO_SWEEP_BATCH = Env.int("MOMO_SWEEP_BATCH", 200)
MOMO_HOLD_DAYS = Env.int("MOMO_HOLD_DAYS", 30)
# Float alerts (momo_float_check, every 5 min): comma-separated addresses; empty = the email
# of every active staff member whose role may set float thresholds (finance).
LIGHTWAY_MOMO_ALERT_EMAIL = Env.str("LIGHTWAY_MOMO_ALERT_EMAIL", "")

# FX rates, feeds and quotes (docs/fx.md; every variable in docs/operations.md "FX").
# Rate feeds: unset base URL = that feed is not imported. `lightway up` points them at the
# local simulators (`lightway simulators`: ecb, regional). Production ECB:
# https://www.ecb.europa.eu ; the regional feed is whatever provider serves our documented
# JSON format (docs/fx.md, "The regional feed").
FX_ECB_BASE_URL = Env.str("FX_ECB_BASE_URL", "")
FX_REGIONAL_FEED_URL = Env.str("FX_REGIONAL_FEED_URL", "")
FX_REGIONAL_FEED_KEY = Env.str("FX_REGIONAL_FEED_KEY", "lightway-demo-rates-key")
FX_FEED_TIMEOUT_SECONDS = Env.int("FX_FEED_TIMEOUT_SECONDS", 10)
# How old a rate may be before quoting stops for its pair, in seconds: per source
# ("ecb:345600") or per pair ("USD/UGX:7200", which wins over its source); "never" = does
# not age. Unlisted: lightway.application.fx.rates.DEFAULT_MAX_AGE.
FX_MAX_AGE_SECONDS = fx_max_ages(Env.str("LIGHTWAY_FX_MAX_AGE_SECONDS", ""))
# The spread (basis points either side of the mid) put on feed rates, per pair or
# "default" (staff enter their own spread with each rate).
FX_SPREAD_BPS = fx_spreads(Env.str("LIGHTWAY_FX_SPREAD_BPS", "default:150,EUR/XOF:50,EUR/XAF:50"))
# How long a customer's quote locks its rate.
FX_QUOTE_SECONDS = Env.int("LIGHTWAY_FX_QUOTE_SECONDS", 60)
# The pairs the watch checks every minute (alert when quoting stops, rate-age gauge) and
# the currencies a cross rate may go through, in order of preference.
FX_WATCH_PAIRS = fx_pairs(
    Env.str(
        "LIGHTWAY_FX_WATCH_PAIRS",
        "EUR/USD,EUR/GBP,EUR/XOF,EUR/XAF,USD/UGX,USD/GHS,USD/RWF,USD/ZMW",
    )
)
FX_CROSS_VIA = [c.strip() for c in Env.str("LIGHTWAY_FX_CROSS_VIA", "EUR,USD").split(",") if c]
# Staleness alerts: comma-separated addresses; empty = every active staff member who may
# approve rates (finance).
LIGHTWAY_FX_ALERT_EMAIL = Env.str("LIGHTWAY_FX_ALERT_EMAIL", "")
# LightWay Finance Settlement API and settlement windows (docs/settlement.md, operations.md).
# Unset SETTLEMENT_BASE_URL = not configured: windows still close and their positions are
# computed; instructions wait ("new") until it is set.
SETTLEMENT_BASE_URL = Env.str("SETTLEMENT_BASE_URL", "")
SETTLEMENT_KEY_ID = Env.str("SETTLEMENT_KEY_ID", "lwf-demo-key")
SETTLEMENT_SECRET = Env.str("SETTLEMENT_SECRET", "lightway-demo-settlement-secret")
SETTLEMENT_CALLBACK_KEY_ID = Env.str("SETTLEMENT_CALLBACK_KEY_ID", "lwf-demo-callback-key")
SETTLEMENT_CALLBACK_SECRET = Env.str(
    "SETTLEMENT_CALLBACK_SECRET", "lightway-demo-settlement-callback-secret"
)
SETTLEMENT_TIMEOUT_SECONDS = Env.int("SETTLEMENT_TIMEOUT_SECONDS", 10)
# How long a sent instruction waits for its callback before a status read, and between reads.
SETTLEMENT_POLL_SECONDS = Env.int("SETTLEMENT_POLL_SECONDS", 60)
# The MoMo markets, and the currencies partners prefund in (their commission share and
# top-ups settle there: a USD-funded partner is paid its share in USD).
LIGHTWAY_SETTLEMENT_MARKETS = Env.str(
    "LIGHTWAY_SETTLEMENT_MARKETS", "UGX,GHS,XAF,XOF,RWF,ZMW,USD,EUR,GBP"
)
# Daily cut-off, local time of each market ("HH:MM"); per-market overrides "UGX=16:30,GHS=15:00".
LIGHTWAY_SETTLEMENT_CUTOFF = Env.str("LIGHTWAY_SETTLEMENT_CUTOFF", "17:00")
LIGHTWAY_SETTLEMENT_CUTOFFS = Env.str("LIGHTWAY_SETTLEMENT_CUTOFFS", "")
# --- partner remittances (docs/partner-api.md, docs/operations.md) --------------------------
# How long a quote locks its rate and fee (Wise: 30 minutes).
REMITTANCE_QUOTE_SECONDS = Env.int("REMITTANCE_QUOTE_SECONDS", 1800)
# How long a beneficiary validation may be cited by a new remittance.
REMITTANCE_VALIDATION_SECONDS = Env.int("REMITTANCE_VALIDATION_SECONDS", 900)

# Monthly partitions and archival (docs/operations.md "Partitions and archival"): where the
# archive files go, how many months ahead the partitions exist, which closed months the
# periodic job archives (older than this many months), and how long a detached month is
# kept in the database before it is dropped.
LIGHTWAY_ARCHIVE_DIR = Env.str("LIGHTWAY_ARCHIVE_DIR", str(embedded_pg.var_dir() / "archive"))
LIGHTWAY_PARTITIONS_AHEAD_MONTHS = Env.int("LIGHTWAY_PARTITIONS_AHEAD_MONTHS", 3)
LIGHTWAY_ARCHIVE_AFTER_MONTHS = Env.int("LIGHTWAY_ARCHIVE_AFTER_MONTHS", 13)
LIGHTWAY_ARCHIVE_DROP_GRACE_DAYS = Env.int("LIGHTWAY_ARCHIVE_DROP_GRACE_DAYS", 30)
