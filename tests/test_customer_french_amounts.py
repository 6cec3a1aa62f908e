"""A French-speaking customer's MoMo pages and history: every amount in French style
("1 234,50 GHS", "1 234 500 UGX", Babel through ``l10n_money``), and the reasons of refused
or failed payments in French (``customer_labels.refusal_text``), never the English
``failure_message`` inside a French sentence."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.momo import flows
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.identity.models import Profile
from lightway.data.wallets.models import Wallet
from tests.factories import customer, funded_wallet
from tests.momo_flow_support import momo_customer, run_momo_jobs, settle

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"


def _text(response) -> str:
    """The page with Babel's (narrow) no-break spaces as plain spaces."""
    assert response.status_code == 200, response.status_code
    return response.content.decode().replace("\u202f", " ").replace("\xa0", " ")


@pytest.fixture
def awa(momo, client):
    now = timezone.now()
    uid = momo_customer("awa", now, phone=PHONE, wallet=7_000_000)
    Profile.objects.filter(user_id=uid).update(language="fr")
    funded_wallet(uid, "GHS", 123_450, now)
    client.force_login(get_user_model().objects.get(pk=uid))
    return uid


def test_momo_pages_show_french_amounts_and_a_french_reason(awa, client, momo):
    now = timezone.now()
    flows.withdrawal_start(
        customer_id=awa, currency="UGX", amount_minor=1_234_500, idempotency_key="w-1", now=now
    )
    failed = flows.payout_start(
        customer_id=awa,
        currency="UGX",
        amount_minor=10_000,
        msisdn="46733123457",  # no MoMo account at the simulator
        idempotency_key="p-1",
        now=now,
    )
    run_momo_jobs(timezone.now())
    settle(momo, client, timezone.now(), callbacks=2)

    home = _text(client.get("/app/momo/"))
    assert "1 234 500 UGX" in home and "UGX 1,234,500" not in home
    withdraw = _text(client.get("/app/momo/withdraw/"))
    assert "1 234,50 GHS" in withdraw and "GHS 1,234.50" not in withdraw

    state = client.get(f"/app/momo/transfers/{failed.id}/status.json").json()
    assert state["phase"] == "failed", state
    status = _text(client.get(f"/app/momo/transfers/{failed.id}/"))
    assert "Ce numéro n&#x27;a pas de compte MoMo actif." in status
    assert "has no active MoMo account" not in status
    assert "10 000 UGX" in status
    state = client.get(f"/app/momo/transfers/{failed.id}/status.json").json()
    assert state["detail"].startswith("Ce numéro n'a pas de compte MoMo actif.")


def test_history_shows_french_amounts_and_a_refusal_in_french(awa, client):
    now = timezone.now()
    bob, _ = customer("bob", now)
    to_bob = funded_wallet(bob, "UGX", 0, now)
    wallet = Wallet.objects.get(owner_id=awa, currency="UGX")
    refused = transfer_create(
        client_id=awa,
        idempotency_key=str(uuid.uuid4()),
        request=TransferRequest(wallet.id, to_bob.id, 5_500_000, "UGX", ""),  # over 5M
        now=now,
    ).transfer
    assert refused.failure_code == "limit_exceeded"
    paid = transfer_create(
        client_id=awa,
        idempotency_key=str(uuid.uuid4()),
        request=TransferRequest(wallet.id, to_bob.id, 1_234_500, "UGX", "loyer"),
        now=now,
    ).transfer
    assert paid.status == "succeeded"

    history = _text(client.get("/app/history/"))
    assert "\u2212 1 234 500 UGX" in history and "5 500 000 UGX" in history
    assert "UGX 1,234,500" not in history
    detail = _text(client.get(f"/app/history/{refused.id}/"))
    assert "Ce paiement dépasse l&#x27;une de vos limites" in detail
    assert "per-transaction limit" not in detail
    assert "5 500 000 UGX" in detail

    # In English the precise message stays (the limit's amounts).
    Profile.objects.filter(user_id=awa).update(language="en")
    client.post("/app/language/", {"language": "en", "next": "/app/history/"})
    english = _text(client.get(f"/app/history/{refused.id}/"))
    assert "per-transaction limit of UGX 5,000,000" in english
