"""Configuration from the environment: one place that reads ``os.environ``."""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlparse

TRUTHY = {"1", "true", "yes", "on"}


def database_from_url(url: str) -> dict[str, object]:
    """Translate ``postgresql://user:pass@host:port/name?host=/socket`` into Django settings."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parsed.scheme!r}")
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or ""])[0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or "postgres"),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        # A health check costs a round trip on every request; a broken pooled connection is
        # instead discarded by Django when a query on it fails.
        "CONN_HEALTH_CHECKS": os.environ.get("DB_CONN_HEALTH_CHECKS", "").lower() in TRUTHY,
        "ATOMIC_REQUESTS": False,
        "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME") or None},
    }


def url_from_database(database: dict[str, object]) -> str:
    """The ``postgresql://`` URL of Django connection settings (the inverse of
    :func:`database_from_url`); a Unix-socket directory goes into ``?host=``."""
    user = quote(str(database.get("USER") or "postgres"), safe="")
    password = str(database.get("PASSWORD") or "")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    host = str(database.get("HOST") or "127.0.0.1")
    port = str(database.get("PORT") or "5432")
    name = quote(str(database["NAME"]), safe="")
    if host.startswith("/"):
        return f"postgresql://{auth}@:{port}/{name}?host={quote(host, safe='/')}"
    return f"postgresql://{auth}@{host}:{port}/{name}"


def url_with_user(url: str, user: str, password: str = "") -> str:
    """``url`` with its user (and password) replaced: the same server and database."""
    parsed = urlparse(url)
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    host = parsed.netloc.rpartition("@")[2]
    return parsed._replace(netloc=f"{auth}@{host}").geturl()


def url_user(url: str) -> str:
    return unquote(urlparse(url).username or "postgres")


@dataclass(frozen=True)
class Env:
    @staticmethod
    def str(name: builtins.str, default: builtins.str) -> builtins.str:
        return os.environ.get(name, default)

    @staticmethod
    def bool(name: builtins.str, default: builtins.bool) -> builtins.bool:
        raw = os.environ.get(name)
        if raw is None:
            return default
        return raw.strip().lower() in TRUTHY

    @staticmethod
    def int(name: builtins.str, default: builtins.int) -> builtins.int:
        raw = os.environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
