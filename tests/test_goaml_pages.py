"""The goAML page of the back office: compliance officers only, generation with clear
errors (400, input kept), the released files listed, downloads audited."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth import get_user_model

from lightway.data.audit.models import AuditRecord
from lightway.data.goaml.models import GoamlFile
from lightway.security.policy import Action, Role, allows
from tests.factories import staff
from tests.goaml_support import UAE, make_config, p2p, two_customers

pytestmark = pytest.mark.django_db
URL = "/staff/compliance/goaml/"


def _signed_in(client, username, role, now):
    uid = staff(username, [role], now)
    client.force_login(get_user_model().objects.get(pk=uid))
    return uid


@pytest.fixture
def data(now):
    make_config(now, UAE)
    a, b = two_customers(now)
    p2p(now, a, b, 4_000_000, "pg1")
    return now


def _form(now, **changes):
    day = now.date().isoformat()
    return {"what": "CTR", "fiu": "demo-uae", "start": day, "end": day, **changes}


def test_only_the_compliance_role_holds_the_permission():
    holders = [r for r in Role if allows([r], Action.GOAML_EXPORT)]
    assert holders == [Role.LW_COMPLIANCE]


@pytest.mark.parametrize(
    "role",
    [Role.LW_OPERATIONS, Role.LW_FINANCE, Role.LW_SUPPORT, Role.LW_ADMIN, Role.MTN_ADMIN],
)
def test_other_roles_get_403(data, client, role):
    _signed_in(client, "someone", role, data)
    assert client.get(URL).status_code == 403
    assert client.post(URL, _form(data)).status_code == 403
    assert client.get(f"{URL}1/download").status_code == 403
    assert not GoamlFile.objects.exists()


def test_signed_out_is_sent_to_sign_in(data, client):
    response = client.get(URL)
    assert response.status_code in (302, 403)


def test_compliance_generates_a_ctr_sees_it_listed_and_downloads_it(data, client):
    uid = _signed_in(client, "officer", Role.LW_COMPLIANCE, data)
    page = client.get(URL)
    assert page.status_code == 200 and b"goAML regulatory export" in page.content
    assert b'href="/staff/compliance/goaml/"' in page.content  # in the navigation
    response = client.post(URL, _form(data))
    assert response.status_code == 302 and response["Location"] == URL
    row = GoamlFile.objects.get()
    assert row.created_by == f"staff:{uid}"
    listing = client.get(URL)
    assert row.reference.encode() in listing.content
    assert b"Released 1 file(s)" in listing.content
    download = client.get(f"{URL}{row.pk}/download")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/xml"
    assert row.filename in download["Content-Disposition"]
    assert hashlib.sha256(download.content).hexdigest() == row.sha256
    assert download["Cache-Control"] == "no-store"
    record = AuditRecord.objects.get(action="goaml.file.download")
    assert record.actor == f"staff:{uid}" and record.data["sha256"] == row.sha256


def test_an_empty_period_says_so(data, client):
    _signed_in(client, "officer", Role.LW_COMPLIANCE, data)
    response = client.post(URL, _form(data, start="2026-02-01", end="2026-02-02"), follow=True)
    assert b"No data in that period" in response.content
    assert not GoamlFile.objects.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start": "2026-02-30"}, b"Enter a date (YYYY-MM-DD)."),
        ({"end": ""}, b"Enter the last day."),
        ({"start": "2026-03-02", "end": "2026-03-01"}, b"must not be before the first"),
        ({"start": "2024-01-01", "end": "2026-03-01"}, b"At most 366 days"),
        ({"fiu": "nope"}, b"Choose a known FIU."),
        ({"what": "XYZ"}, b"Choose one."),
        ({"start": "2025-03-01", "end": "2025-03-02"}, b"no configuration in force"),
    ],
)
def test_bad_input_is_a_400_with_the_input_kept(data, client, changes, message):
    _signed_in(client, "officer", Role.LW_COMPLIANCE, data)
    form = _form(data, **changes)
    response = client.post(URL, form)
    assert response.status_code == 400
    assert message in response.content, response.content.decode()[:3000]
    for field in ("start", "end"):
        if form[field]:
            assert f'value="{form[field]}"'.encode() in response.content
    assert not GoamlFile.objects.exists()


def test_a_missing_file_is_a_404(data, client):
    _signed_in(client, "officer", Role.LW_COMPLIANCE, data)
    assert client.get(f"{URL}999999/download").status_code == 404
    assert not AuditRecord.objects.filter(action="goaml.file.download").exists()
