"""Support notes on a customer: append-only (the database refuses changes), audited,
shown newest first with their author and time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from lightway.application.errors import ValidationFailed
from lightway.application.identity.pii import customer_get
from lightway.data.audit.services import audit_record
from lightway.data.backoffice.models import NOTE_MAX, SupportNote

log = logging.getLogger(__name__)

NOTES_SHOWN = 50


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    body: str
    created_at: datetime


def support_note_add(*, subject: str, body: str, author_id: int, now: datetime) -> SupportNote:
    """Append a note to the customer ``subject``'s page; audited ``support_note.add`` (the
    note's id and length, never its text)."""
    text = "\n".join(line.rstrip() for line in (body or "").strip().splitlines())
    if not 3 <= len(text) <= NOTE_MAX:
        raise ValidationFailed(
            f"Write a note of 3 to {NOTE_MAX} characters.", details={"field": "body"}
        )
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise ValidationFailed(
            "The note holds control characters: type it again.", details={"field": "body"}
        )
    customer = customer_get(subject=subject)
    with transaction.atomic():
        note = SupportNote.objects.create(
            customer_id=customer.user_id, author_id=author_id, body=text, created_at=now
        )
        audit_record(
            actor=f"staff:{author_id}",
            action="support_note.add",
            object_type="identity.profile",
            object_id=customer.subject,
            data={"note": note.pk, "length": len(text)},
            now=now,
        )
    log.info("support note added", extra={"note": note.pk, "actor": f"staff:{author_id}"})
    return note


def support_notes_of(*, customer_id: int, limit: int = NOTES_SHOWN) -> list[NoteView]:
    """The customer's newest ``limit`` notes, newest first (one indexed read)."""
    rows = list(
        SupportNote.objects.filter(customer_id=customer_id).order_by("-created_at", "-id")[:limit]
    )
    names = dict(
        get_user_model()
        .objects.filter(pk__in={r.author_id for r in rows})
        .values_list("pk", "username")
    )
    return [
        NoteView(
            id=r.pk,
            author=str(names.get(r.author_id, f"staff {r.author_id}")),
            body=r.body,
            created_at=r.created_at,
        )
        for r in rows
    ]
