"""The partner event outbox (data/partners): append-only, and a catch-up feed that never
skips an event committed late (its keyset is the commit-ordered ``seq``)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import DatabaseError, connections, transaction

from lightway.data.identity.models import Partner
from lightway.data.partners.models import PartnerEvent
from lightway.data.partners.selectors import partner_events_after
from lightway.data.partners.services import partner_event_record, partner_events_sequence

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _partner(code: str = "acme") -> Partner:
    return Partner.objects.create(code=code, name=code, created_at=NOW)


def _event(partner: Partner, n: int) -> PartnerEvent:
    return partner_event_record(
        partner_id=partner.pk,
        type="remittance.status_changed",
        object_type="remittance",
        object_id=f"r{n}",
        data={"n": n},
        now=NOW,
    )


@pytest.mark.django_db
def test_events_are_append_only_and_numbered_once():
    partner = _partner()
    event = _event(partner, 1)
    # The runtime role may not even try (db_roles.TABLE_RULES); the trigger is tested as
    # the owner below.
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        PartnerEvent.objects.filter(pk=event.pk).update(data={"n": 2})
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        PartnerEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="without seq"), transaction.atomic():
        PartnerEvent.objects.create(
            partner=partner,
            type="t",
            object_type="o",
            object_id="x",
            data={},
            occurred_at=NOW,
            seq=99,
        )
    assert partner_events_sequence() == 1
    event.refresh_from_db()
    assert event.seq == 1
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        PartnerEvent.objects.filter(pk=event.pk).update(seq=5)  # numbered once only


def test_the_owner_cannot_edit_or_delete_an_event_either(owner_db):
    partner = _partner()
    event = _event(partner, 1)
    for statement in (
        "UPDATE partners_event SET data = '{}' WHERE id = %s",
        "DELETE FROM partners_event WHERE id = %s",
    ):
        with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
            owner_db.execute(statement, [event.pk])
    with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
        owner_db.execute("TRUNCATE partners_event CASCADE")


@pytest.mark.django_db
def test_feed_pages_by_seq_and_only_shows_the_partners_own_events():
    mine, other = _partner("mine"), _partner("other")
    for n in range(5):
        _event(mine, n)
        _event(other, n)
    partner_events_sequence()
    first = partner_events_after(partner_id=mine.pk, after=0, limit=3)
    assert [e.data["n"] for e in first] == [0, 1, 2]
    rest = partner_events_after(partner_id=mine.pk, after=first[-1].seq, limit=3)
    assert [e.data["n"] for e in rest] == [3, 4]
    assert all(e.partner_id == mine.pk for e in first + rest)


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_late_is_not_skipped_by_a_reader():
    """Event A gets the lower id but commits after event B. A reader paging by id would
    have moved past A; paging by seq it sees A on its next page."""
    partner = _partner()
    a_inserted, release_a = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                _event(partner, 1)  # lower id
                a_inserted.set()
                release_a.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert a_inserted.wait(10)
    _event(partner, 2)  # higher id, committed first
    partner_events_sequence()
    page = partner_events_after(partner_id=partner.pk, after=0, limit=10)
    assert [e.data["n"] for e in page] == [2]
    cursor = page[-1].seq
    release_a.set()
    thread.join(10)
    partner_events_sequence()
    later = partner_events_after(partner_id=partner.pk, after=cursor, limit=10)
    assert [e.data["n"] for e in later] == [1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_sequencers_give_unique_gap_free_numbers():
    partner = _partner()
    for n in range(40):
        _event(partner, n)
    done: list[int] = []

    def run() -> None:
        try:
            done.append(partner_events_sequence(batch=7))
            while partner_events_sequence(batch=7):
                pass
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    seqs = sorted(PartnerEvent.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, 41))
