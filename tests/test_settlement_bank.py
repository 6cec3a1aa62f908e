"""The ISO 20022 bank leg (docs/settlement.md): every message we build or receive validates
against the official XSDs (read in place from the shared specifications), partner top-ups
arrive as camt.054 credits and are credited exactly once, and the camt.053 statement is
reconciled against the instructions (matched, missing, unexpected, amount mismatch)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import xmlschema

from lightway.application.errors import Conflict, ValidationFailed
from lightway.application.settlement.reconciliation import (
    statement_fetch_reconcile,
    statement_reconcile,
)
from lightway.application.settlement.topups import notifications_fetch, partner_topup_record
from lightway.application.settlement.windows import window_close
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.ledger.models import Account
from lightway.data.ledger.verify import ledger_verify
from lightway.data.settlement.models import Instruction, SettlementWindow, Topup
from lightway.data.wallets.models import Wallet
from lightway.integration.settlement import iso20022 as iso
from tests.momo_flow_support import momo_customer, momo_partner
from tests.settlement_support import parties, run_settlement_jobs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "specs" / "iso20022"
if not SHARED.is_dir():  # a checkout outside the workspace: the vendored copies
    SHARED = iso.XSD_DIR


def _shared(message: str) -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(SHARED / f"{message}.xsd"))


def test_the_vendored_schemas_are_the_shared_ones():
    for message in iso.SCHEMAS:
        ours = (iso.XSD_DIR / f"{message}.xsd").read_bytes()
        theirs = (SHARED / f"{message}.xsd").read_bytes()
        assert hashlib.sha256(ours).digest() == hashlib.sha256(theirs).digest(), message


def test_every_generated_message_validates_against_its_xsd():
    at = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    pain = iso.pain001_build(
        iso.CreditTransfer(
            msg_id="LWS0000000001C000R00",
            instr_id="LWS0000000001C000R00",
            end_to_end_id="LWE0000000001C000R00",
            uetr=uuid.uuid4(),
            amount_minor=123_456,
            currency="GHS",
            requested_date=date(2026, 11, 24),
            debtor_name="LightWay MoMo Ltd",
            debtor_account="GH12345678901234567890",
            debtor_agent="LWFIGHAC",
            creditor_name="MTN Mobile Money (GHS)",
            creditor_account="MTNMOMO-GHS-0001",
            creditor_agent="",
            remittance_info="LightWay settlement window 1 GHS mtn",
            created_at=at,
        )
    )
    assert _shared(iso.PAIN_001).is_valid(pain)
    assert '<InstdAmt Ccy="GHS">1234.56</InstdAmt>' in pain
    booking = iso.Booking(
        amount_minor=50_000,
        currency="UGX",
        credit=True,
        booked_on=date(2026, 11, 24),
        acct_svcr_ref="LWF0000000009",
        end_to_end_id="E2E-9",
        uetr=str(uuid.uuid4()),
        remittance_info="TOPUP acme",
        debtor_name="Acme Remit",
    )
    camt054 = iso.camt054_build(
        msg_id="N1", account="LWMOMO-UGX-0001", code="UGX", booking=booking, created_at=at
    )
    assert _shared(iso.CAMT_054).is_valid(camt054)
    for version in (iso.CAMT_053, iso.CAMT_053_V2):
        camt053 = iso.camt053_build(
            msg_id="S1",
            stmt_id="STMT-1",
            account="LWMOMO-UGX-0001",
            code="UGX",
            statement_date=date(2026, 11, 24),
            opening=1_000,
            bookings=[booking],
            created_at=at,
            version=version,
        )
        assert _shared(version).is_valid(camt053)
        report = iso.report_read(camt053)
        assert (report.opening, report.closing) == (1_000, 51_000)


def test_an_invalid_document_is_refused_with_the_reason():
    with pytest.raises(iso.IsoInvalid, match="not well-formed"):
        iso.report_read("<Document")
    with pytest.raises(iso.IsoInvalid, match="not an ISO 20022"):
        iso.report_read("<Document/>")
    broken = (
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
        "<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>x</MsgId></GrpHdr></BkToCstmrDbtCdtNtfctn>"
        "</Document>"
    )
    with pytest.raises(iso.IsoInvalid, match="is not valid"):
        iso.report_read(broken)
    with pytest.raises(iso.IsoInvalid, match="more decimals"):
        iso.minor_amount("10.5", "UGX")


# --- top-ups --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_topup_credited_by_camt054_exactly_once(settlement, now):
    momo_partner("acme", now, prefund=0)
    parties(now, "acme")
    prefund = Account.objects.get(code="prefund:acme:UGX")
    settlement.sim.credit(
        account="LWMOMO-UGX-0001",
        amount_minor=750_000,
        code="UGX",
        debtor="Acme Remit Ltd",
        reference="TOPUP acme March float",
    )
    settlement.sim.credit(  # not a top-up: kept, nothing credited
        account="LWMOMO-UGX-0001",
        amount_minor=10,
        code="UGX",
        debtor="Someone",
        reference="interest",
    )
    assert notifications_fetch(now=now) == 2
    assert notifications_fetch(now=now) == 0  # the cursor moved on
    [topup] = Topup.objects.all()
    assert (topup.partner_code, topup.amount, topup.currency) == ("acme", 750_000, "UGX")
    prefund.refresh_from_db()
    assert prefund.balance == 750_000
    # the same bank reference again (a re-sent notification, a second worker): once
    same, created = partner_topup_record(
        partner_code="acme",
        currency_code="UGX",
        amount_minor=750_000,
        bank_reference=topup.bank_reference,
        booked_on=topup.booked_on,
        actor="test",
        now=now,
    )
    assert (same.pk, created) == (topup.pk, False)
    with pytest.raises(Conflict):
        partner_topup_record(
            partner_code="acme",
            currency_code="UGX",
            amount_minor=1,
            bank_reference=topup.bank_reference,
            booked_on=topup.booked_on,
            actor="test",
            now=now,
        )
    prefund.refresh_from_db()
    assert prefund.balance == 750_000
    assert ledger_verify().ok, ledger_verify().problems


# --- camt.053 reconciliation ------------------------------------------------------------------


def _settled_window(settlement, client, now, prefix):
    alice = momo_customer(f"{prefix}-a", now, phone="+256772100021", wallet=5_000_000)
    bob = momo_customer(f"{prefix}-b", now, phone="+256772100022", wallet=1)
    parties(now)
    source = Wallet.objects.get(owner_id=alice)
    destination = Wallet.objects.get(owner_id=bob)
    transfer_create(
        client_id=alice,
        idempotency_key=f"{prefix}-1",
        request=TransferRequest(source.id, destination.id, 400_000, "UGX"),
        now=now,
    )
    window = SettlementWindow.objects.get(market="UGX", state="open")
    [instruction] = window_close(window_id=window.pk, now=now, actor="t").instructions
    run_settlement_jobs(now)
    settlement.forward_callbacks(client, 1)
    run_settlement_jobs(now)
    instruction = Instruction.objects.get(pk=instruction.pk)
    assert instruction.status == "settled"
    return instruction


@pytest.mark.django_db
def test_camt053_reconciliation_matches_and_finds_an_unexpected_line(settlement, client, now):
    instruction = _settled_window(settlement, client, now, "r1")
    momo_partner("acme", now, prefund=0)
    settlement.sim.credit(
        account="LWMOMO-UGX-0001",
        amount_minor=900,
        code="UGX",
        debtor="Acme",
        reference="TOPUP acme",
    )
    notifications_fetch(now=now)
    settlement.configure(statement_unexpected_line=True)
    result = statement_fetch_reconcile(
        currency_code="UGX", on=instruction.settlement_date, actor="t", now=now
    )
    assert result.counts() == {"matched": 2, "missing": 0, "unexpected": 1, "amount_mismatch": 0}
    [unexpected] = [i for i in result.items if i.category == "unexpected"]
    assert unexpected.booked == -1000 and "maintenance" in unexpected.detail
    matched = {i.reference: (i.expected, i.booked) for i in result.items if i.category == "matched"}
    assert matched[instruction.instr_id] == (-instruction.amount, -instruction.amount)
    # importing the same statement again changes nothing
    again = statement_fetch_reconcile(
        currency_code="UGX", on=instruction.settlement_date, actor="t", now=now
    )
    assert again.already and again.statement.pk == result.statement.pk


@pytest.mark.django_db
def test_camt053_amount_mismatch_and_missing_line_in_the_legacy_version(settlement, client, now):
    instruction = _settled_window(settlement, client, now, "r2")
    settlement.configure(statement_amount_delta=-1)
    xml = settlement.sim.statement("LWMOMO-UGX-0001", instruction.settlement_date, iso.CAMT_053)
    mismatch = statement_reconcile(xml=xml, actor="t", now=now)
    assert mismatch.counts()["amount_mismatch"] == 1
    settlement.configure(statement_amount_delta=0, statement_drop_instructed=True)
    settlement.sim.configure(business_date=instruction.settlement_date.isoformat())
    xml02 = settlement.sim.statement(
        "LWMOMO-UGX-0001", instruction.settlement_date, iso.CAMT_053_V2
    ).replace("STMT-LWMOMO-UGX-0001", "STMT2-LWMOMO-UGX-0001")
    missing = statement_reconcile(xml=xml02, actor="t", now=now)
    assert missing.statement.version == iso.CAMT_053_V2
    assert missing.counts()["missing"] == 1
    [item] = [i for i in missing.items if i.category == "missing"]
    assert item.instruction_id == instruction.pk
    with pytest.raises(ValidationFailed, match=r"camt\.053 refused"):
        statement_reconcile(xml="<Document/>", actor="t", now=now)
