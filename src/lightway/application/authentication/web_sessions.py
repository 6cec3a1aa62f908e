"""Browser sessions of the web panels: recorded at sign-in, listed on the security page,
ended by their owner one by one or all but the current one.

The panels call these from their session helpers (``interfaces/panels/sessions.py``) and
the idle-timeout middleware, which touches ``last_seen_at`` at most once a minute. Ending
another session deletes it from Django's session store, so its next request is signed out;
the row stays as history (``ended_at``, ``end_reason``; the database keeps an ended row
ended). Everything an owner ends is audited (``session.web_end``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext
from ua_parser import parse as parse_user_agent

from lightway.application.errors import NotFound, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.security.apiauth.models import WebSession
from lightway.security.crypto import decrypt, encrypt

_CONTEXT = "apiauth.web_session.key"
OPEN_LIST_LIMIT = 20


def _digest(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def browser_label(user_agent: str) -> str:
    """'Chrome Mobile on Android' from a User-Agent header (ua-parser's rules), '' if none."""
    if not user_agent:
        return ""
    parsed = parse_user_agent(user_agent[:512])
    agent = parsed.user_agent.family if parsed.user_agent else ""
    system = parsed.os.family if parsed.os else ""
    agent = "" if agent == "Other" else agent
    system = "" if system == "Other" else system
    label = f"{agent} on {system}" if agent and system else agent or system
    return label[:120]


def web_session_opened(
    *, user_id: int, session_key: str, realm: str, user_agent: str, now: datetime
) -> None:
    WebSession.objects.create(
        user_id=user_id,
        key_digest=_digest(session_key),
        key_ct=encrypt(session_key, context=_CONTEXT),
        realm=realm,
        browser=browser_label(user_agent),
        created_at=now,
        last_seen_at=now,
    )


def web_session_rekeyed(*, old_key: str | None, new_key: str, now: datetime) -> None:
    """The session's key was cycled (second factor verified): follow it."""
    if not old_key:
        return
    WebSession.objects.filter(key_digest=_digest(old_key), ended_at__isnull=True).update(
        key_digest=_digest(new_key),
        key_ct=encrypt(new_key, context=_CONTEXT),
        last_seen_at=now,
    )


def web_session_seen(*, session_key: str | None, now: datetime) -> None:
    if session_key:
        WebSession.objects.filter(key_digest=_digest(session_key), ended_at__isnull=True).update(
            last_seen_at=now
        )


def web_session_closed(*, session_key: str | None, reason: str, now: datetime) -> None:
    """The session ended where it runs (sign-out, idle, lifetime)."""
    if session_key:
        WebSession.objects.filter(key_digest=_digest(session_key), ended_at__isnull=True).update(
            ended_at=now, end_reason=reason[:32] or "ended"
        )


@dataclass(frozen=True, slots=True)
class WebSessionView:
    id: uuid.UUID
    browser: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


def _open(user_id: int, now: datetime):  # type: ignore[no-untyped-def]
    # Sessions the store has not expired yet: within the absolute lifetime. (A session
    # idle past its limit is ended by its next request; until then it is listed.)
    oldest = now - timedelta(seconds=int(settings.SESSION_COOKIE_AGE))
    return WebSession.objects.filter(
        user_id=user_id, ended_at__isnull=True, created_at__gte=oldest
    ).order_by("-last_seen_at")


def web_sessions_open(
    *, user_id: int, current_key: str | None, now: datetime
) -> list[WebSessionView]:
    current = _digest(current_key) if current_key else ""
    return [
        WebSessionView(s.id, s.browser, s.created_at, s.last_seen_at, s.key_digest == current)
        for s in _open(user_id, now).only(
            "id", "browser", "created_at", "last_seen_at", "key_digest"
        )[:OPEN_LIST_LIMIT]
    ]


def _end(session: WebSession, *, reason: str, now: datetime) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    store().delete(decrypt(bytes(session.key_ct), context=_CONTEXT))
    session.ended_at, session.end_reason = now, reason
    session.save(update_fields=["ended_at", "end_reason"])


def web_session_end(
    *, user_id: int, session_id: uuid.UUID, current_key: str | None, now: datetime
) -> None:
    """End one of the owner's other sessions (not the one asking: that is "Log out")."""
    with transaction.atomic():
        session = _open(user_id, now).select_for_update().filter(pk=session_id).first()
        if session is None:
            raise NotFound(gettext("That session has already ended."))
        if current_key and session.key_digest == _digest(current_key):
            raise ValidationFailed(
                gettext("This is the session you are using: use Log out to end it.")
            )
        _end(session, reason="ended_by_owner", now=now)
        audit_record(
            actor=f"user:{user_id}",
            action="session.web_end",
            object_type="auth.user",
            object_id=str(user_id),
            data={"session": str(session.pk), "count": 1},
            now=now,
        )


def web_sessions_end_others(
    *,
    user_id: int,
    current_key: str | None,
    now: datetime,
    actor: str | None = None,
    reason: str = "ended_by_owner",
) -> int:
    """End every open session of the user but ``current_key``'s (all of them when None);
    returns how many. Also called when the password changes (``reason="password_changed"``):
    Django already refuses those sessions then, and the list must say so."""
    keep = _digest(current_key) if current_key else ""
    with transaction.atomic():
        others = list(_open(user_id, now).select_for_update().exclude(key_digest=keep))
        for session in others:
            _end(session, reason=reason, now=now)
        if others:
            audit_record(
                actor=actor or f"user:{user_id}",
                action="session.web_end",
                object_type="auth.user",
                object_id=str(user_id),
                data={"session": "all_others", "count": len(others), "reason": reason},
                now=now,
            )
    return len(others)
