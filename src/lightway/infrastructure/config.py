"""Configuration from the environment: one place that reads ``os.environ``."""

from __future__ import annotations

import builtins
import os
import re
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
        # Opt-in: parameters bound by the server, so psycopg prepares a query it has run
        # five times on a connection and the server plans it once (docs/performance.md,
        # "Partitioned tables": planning dominates a lookup on a partitioned table).
        "OPTIONS": (
            {"server_side_binding": True}
            if os.environ.get("DB_SERVER_SIDE_BINDING", "").lower() in TRUTHY
            else {}
        ),
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


def local_url(host: str, port: int) -> str:
    """The URL a browser on this machine uses for a server listening on ``host:port``: a
    wildcard address becomes 127.0.0.1, an IPv6 address gets its brackets."""
    if host in {"0.0.0.0", "", "::", "[::]"}:  # noqa: S104 - only for display
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


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


# --- FX settings (docs/operations.md "FX"): "name:value,name:value" lists -----------------

_PAIR = re.compile(r"[A-Z]{3}/[A-Z]{3}")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _items(raw: builtins.str, setting: builtins.str) -> list[tuple[builtins.str, builtins.str]]:
    out = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        name, sep, value = item.rpartition(":")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{setting}: {item!r} is not name:value")
        out.append((name.strip(), value.strip()))
    return out


def fx_pairs(raw: builtins.str) -> list[builtins.str]:
    """``"EUR/USD,USD/UGX"`` as a list; raises ``ValueError`` for anything else."""
    pairs = [p.strip().upper() for p in raw.split(",") if p.strip()]
    for pair in pairs:
        if not _PAIR.fullmatch(pair) or pair[:3] == pair[4:]:
            raise ValueError(f"LIGHTWAY_FX_WATCH_PAIRS: {pair!r} is not a pair like EUR/USD")
    return pairs


def fx_max_ages(raw: builtins.str) -> dict[builtins.str, builtins.int | None]:
    """``"ecb:345600,USD/UGX:7200,peg:never"``: seconds (None: never ages) per source or pair."""
    out: dict[builtins.str, builtins.int | None] = {}
    for name, value in _items(raw, "LIGHTWAY_FX_MAX_AGE_SECONDS"):
        if not (_PAIR.fullmatch(name) or _NAME.fullmatch(name)):
            raise ValueError(f"LIGHTWAY_FX_MAX_AGE_SECONDS: {name!r} is not a source or pair")
        if value == "never":
            out[name] = None
        elif value.isdigit() and int(value) > 0:
            out[name] = int(value)
        else:
            raise ValueError(
                f"LIGHTWAY_FX_MAX_AGE_SECONDS: {name} must be a positive number of seconds or never"
            )
    return out


def fx_spreads(raw: builtins.str) -> dict[builtins.str, builtins.int]:
    """``"default:150,EUR/XOF:50"``: basis points per pair (0 to 5000)."""
    out: dict[builtins.str, builtins.int] = {}
    for name, value in _items(raw, "LIGHTWAY_FX_SPREAD_BPS"):
        if not (_PAIR.fullmatch(name) or name == "default"):
            raise ValueError(f"LIGHTWAY_FX_SPREAD_BPS: {name!r} is not a pair or default")
        if not value.isdigit() or int(value) > 5000:
            raise ValueError(f"LIGHTWAY_FX_SPREAD_BPS: {name} must be 0 to 5000 basis points")
        out[name] = int(value)
    return out
