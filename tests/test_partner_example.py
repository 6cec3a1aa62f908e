"""examples/partner_client.py works against the app: its functions run against a live
server (Django's live test server, the whole WSGI application over real HTTP) with the MoMo
simulator, through the walk-through of docs/partner-api.md: quote -> validate -> create ->
confirm -> (the worker pays out) -> track to COMPLETED; and its errors carry the API's
error shape."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from lightway.data.momo.models import MomoRequest
from tests.momo_flow_support import run_momo_jobs, settle, wait_final
from tests.remit_support import fx_rate, remit_partner

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location(
        "partner_client", ROOT / "examples" / "partner_client.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_example_client_sends_and_tracks_a_remittance(live_server, momo, client):
    example = _example()
    now = timezone.now()
    partner = remit_partner("example-imto", now, prefund={"USD": 500_000})
    fx_rate("USD", "UGX", "3700", 100, now)
    # The simulator's own holder of the number docs/partner-api.md and the README use (its
    # names are derived from the number): the walk-through must MATCH on `make run` as is.
    # (It named the number the docs used before "M... M...", and the walk-through stopped at
    # NO_MATCH; this test had set the name itself and did not see it.)
    api = example.PartnerClient(live_server.url, partner.key_id, partner.secret)

    quote = api.quote(send_currency="USD", receive_currency="UGX", amount=2_500)
    assert (quote["state"], quote["fee"], quote["receive_amount"]) == ("ACTIVE", 299, 91_575)
    validation = api.validate(msisdn="256772100154", expected_name="Amina Nakato")
    assert (validation["account_status"], validation["name_match"]) == ("ACTIVE", "MATCH")
    created = api.create(
        quote_id=quote["id"],
        external_id="EXAMPLE-1",
        msisdn="256772100154",
        name="Amina Nakato",
        sender={"name": "John Smith", "country": "GB"},
        validation_id=validation["id"],
        idempotency_key="example-create-1",
    )
    assert created["state"] == "CREATED"
    again = api.create(
        quote_id=quote["id"],
        external_id="EXAMPLE-1",
        msisdn="256772100154",
        name="Amina Nakato",
        sender={"name": "John Smith", "country": "GB"},
        validation_id=validation["id"],
        idempotency_key="example-create-1",
    )
    assert again["id"] == created["id"]
    assert api.confirm(created["id"])["state"] == "CONFIRMED"

    # the worker's part: submit, MoMo pays, callback, status read
    run_momo_jobs(timezone.now())
    request = MomoRequest.objects.get()
    wait_final(momo.sim, request.reference_id)
    settle(momo, client, timezone.now())

    final = api.track(created["id"], timeout=5, every=0.1)
    assert (final["state"], final["version"]) == ("COMPLETED", 4)
    assert api.get_by_external_id("EXAMPLE-1")["id"] == created["id"]
    with pytest.raises(example.PartnerApiError) as refused:
        api.cancel(created["id"])
    assert (refused.value.status, refused.value.code, refused.value.retryable) == (
        409,
        "remittance_not_cancellable",
        False,
    )
