"""Django settings, read from the environment (see docs/operations.md for every variable)."""

from __future__ import annotations

import os

from lightway.infrastructure import embedded_pg
from lightway.infrastructure.config import Env, database_from_url

DEBUG = Env.bool("LIGHTWAY_DEBUG", False)
SECRET_KEY = Env.str("LIGHTWAY_SECRET_KEY", "dev-only-insecure-secret-key-change-me-in-production")
ALLOWED_HOSTS = Env.str("LIGHTWAY_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")

DATABASE_URL = os.environ.get("DATABASE_URL") or embedded_pg.ensure_url()
os.environ.setdefault("DATABASE_URL", DATABASE_URL)
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
    "lightway.data.ledger",
    "lightway.data.audit",
    "lightway.data.commission",
    "lightway.data.wallets",
    "lightway.data.identity",
    "lightway.security",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "lightway.interfaces.web.middleware.RequestMetricsMiddleware",  # outermost: times all
    "lightway.interfaces.api.errors.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
            ]
        },
    }
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
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = str(embedded_pg.var_dir() / "static")

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
    CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# Personal data protection (docs/security.md). Unset = development keys, refused by
# `lightway check --production`.
LIGHTWAY_DATA_KEYS = Env.str("LIGHTWAY_DATA_KEYS", "")
LIGHTWAY_BLIND_INDEX_KEY = Env.str("LIGHTWAY_BLIND_INDEX_KEY", "")

# Platform settings
LIGHTWAY_LIMITS_POLICY = Env.str(
    "LIGHTWAY_LIMITS_POLICY", "lightway.application.transactions.limits.PerTransactionCap"
)
LIGHTWAY_MAX_AMOUNT_MINOR = Env.int("LIGHTWAY_MAX_AMOUNT_MINOR", 10**15)
# Seconds a process keeps the fee schedules of a scope (0 = read them on every transaction).
LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS = Env.int("LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS", 5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "lightway.infrastructure.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": Env.str("LIGHTWAY_LOG_LEVEL", "WARNING").upper()},
    "loggers": {
        "lightway": {"level": Env.str("LIGHTWAY_LOG_LEVEL", "INFO").upper(), "propagate": True}
    },
}

# Runtime: web server, worker, jobs, metrics (lightway up / serve / worker)
LIGHTWAY_HOST = Env.str("LIGHTWAY_HOST", "127.0.0.1")
LIGHTWAY_PORT = Env.int("LIGHTWAY_PORT", 8000)
LIGHTWAY_WEB_WORKERS = Env.int("LIGHTWAY_WEB_WORKERS", min(max(os.cpu_count() or 1, 2), 8))
LIGHTWAY_WEB_THREADS = Env.int("LIGHTWAY_WEB_THREADS", 4)
LIGHTWAY_WEB_TIMEOUT = Env.int("LIGHTWAY_WEB_TIMEOUT", 30)
LIGHTWAY_WORKER_CONCURRENCY = Env.int("LIGHTWAY_WORKER_CONCURRENCY", 4)
LIGHTWAY_AUDIT_LINK_INTERVAL_MS = Env.int("LIGHTWAY_AUDIT_LINK_INTERVAL_MS", 500)
LIGHTWAY_JOBS_KEEP_HOURS = Env.int("LIGHTWAY_JOBS_KEEP_HOURS", 72)
LIGHTWAY_STOP_TIMEOUT = Env.int("LIGHTWAY_STOP_TIMEOUT", 30)
LIGHTWAY_SERVE_STATIC = Env.bool("LIGHTWAY_SERVE_STATIC", True)
LIGHTWAY_METRICS_TOKEN = Env.str("LIGHTWAY_METRICS_TOKEN", "")
PROCRASTINATE_IMPORT_PATHS = ["lightway.interfaces.tasks"]
