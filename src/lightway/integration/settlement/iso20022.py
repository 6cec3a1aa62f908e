"""The ISO 20022 bank leg: pain.001 out, camt.054 and camt.053 in (docs/settlement.md).

LightWay is a *customer* of its bank: it initiates a payment with a
``pain.001.001.09`` (Customer Credit Transfer Initiation); the bank reports each booking
on the account with a ``camt.054.001.08`` (Debit/Credit Notification) and the day with a
``camt.053.001.08`` statement (``camt.053.001.02`` is still what many banks' host-to-host
channels send, so both are read).

Messages are *built* with pyiso20022's xsdata-generated dataclasses (a maintained MIT
library generated from the same XSDs, so every element name and nesting comes from the
schema rather than from hand-written strings) and serialised with xsdata. Every message,
built here or received, is then *validated* with xmlschema against the official XSDs in
``xsd/`` (see ``xsd/SOURCE.txt``): pyiso20022's own validator does not check everything
(its issue #3), so the XSD is the judge.

Received camt documents are *read* with lxml XPath over the already validated tree. Why
not the typed models here: the two camt.053 versions have different classes for the same
dozen fields we need (ReportEntry2 vs ReportEntry10, no UETR in .02); one namespace-free
path per field reads both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.models.datatype import XmlDate, XmlDateTime

from lightway.data.money import currency

XSD_DIR = Path(__file__).with_name("xsd")
NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
PAIN_001 = "pain.001.001.09"
CAMT_054 = "camt.054.001.08"
CAMT_053 = "camt.053.001.08"
CAMT_053_V2 = "camt.053.001.02"
SCHEMAS = (PAIN_001, CAMT_054, CAMT_053, CAMT_053_V2)
RECEIVED = frozenset({CAMT_054, CAMT_053, CAMT_053_V2})
MAX_XML_BYTES = 5 * 1024 * 1024


class IsoInvalid(ValueError):
    """A message that is not what its schema allows (or not one we read at all)."""


@cache
def schema(message: str) -> xmlschema.XMLSchema10:
    """The XSD of ``message`` (loaded once per process: a few hundred milliseconds)."""
    if message not in SCHEMAS:
        raise IsoInvalid(f"no schema for {message}")
    return xmlschema.XMLSchema10(str(XSD_DIR / f"{message}.xsd"))


def message_of(xml: str | bytes) -> str:
    """The message name from the root element's namespace (e.g. ``camt.053.001.08``)."""
    root = _parse(xml)
    namespace = etree.QName(root).namespace or ""
    if not namespace.startswith(NS_PREFIX) or etree.QName(root).localname != "Document":
        raise IsoInvalid("not an ISO 20022 Document")
    return namespace[len(NS_PREFIX) :]


def validate(xml: str | bytes, message: str | None = None) -> str:
    """Check ``xml`` against its XSD; returns the message name. ``message`` pins the one
    expected (a camt.053 where a camt.054 is due is refused)."""
    found = message_of(xml)
    if message is not None and found != message:
        raise IsoInvalid(f"expected {message}, got {found}")
    if found not in SCHEMAS:
        raise IsoInvalid(f"{found} is not a message this platform reads")
    errors = list(schema(found).iter_errors(_text(xml)))
    if errors:
        first = errors[0]
        where = getattr(first, "path", "") or ""
        raise IsoInvalid(f"{found} is not valid: {first.reason} at {where}"[:300])
    return found


def _text(xml: str | bytes) -> str:
    return xml.decode("utf-8") if isinstance(xml, bytes) else xml


def _parse(xml: str | bytes) -> Any:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(data) > MAX_XML_BYTES:
        raise IsoInvalid("the document is too large")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise IsoInvalid(f"not well-formed XML: {exc}") from None


def decimal_amount(amount_minor: int, code: str) -> Decimal:
    """Minor units as the decimal amount ISO 20022 carries (UGX 1500 -> 1500, GHS 1234 ->
    12.34), exact."""
    return Decimal(amount_minor).scaleb(-currency(code).exponent)


def minor_amount(value: str | Decimal, code: str) -> int:
    """A decimal amount back in minor units; refuses more decimals than the currency has."""
    amount = Decimal(str(value)).scaleb(currency(code).exponent)
    if amount != amount.to_integral_value():
        raise IsoInvalid(f"{value} {code} has more decimals than {code} allows")
    return int(amount)


def _serialise(document: Any) -> str:
    config = SerializerConfig(xml_declaration=True, encoding="UTF-8", indent="  ")
    namespace = getattr(getattr(type(document), "Meta", None), "namespace", None)
    ns_map = {None: namespace} if namespace else None  # the message's default namespace
    return XmlSerializer(config=config).render(document, ns_map=ns_map)


# --- pain.001: what LightWay instructs its bank ---------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    """One payment of a settlement instruction, in ISO 20022 terms."""

    msg_id: str
    instr_id: str
    end_to_end_id: str
    uetr: uuid.UUID
    amount_minor: int
    currency: str
    requested_date: date
    debtor_name: str
    debtor_account: str
    debtor_agent: str
    creditor_name: str
    creditor_account: str
    creditor_agent: str
    remittance_info: str
    created_at: datetime


def _account(module: Any, account: str) -> Any:
    """An account id: an IBAN when it looks like one, else the bank's own number."""
    if len(account) >= 15 and account[:2].isalpha() and account[2:4].isdigit():
        return module.AccountIdentification4Choice(iban=account)
    return module.AccountIdentification4Choice(
        othr=module.GenericAccountIdentification1(id=account)
    )


def _agent(module: Any, bic: str) -> Any:
    return module.BranchAndFinancialInstitutionIdentification6(
        fin_instn_id=module.FinancialInstitutionIdentification18(bicfi=bic or None)
    )


def pain001_build(transfer: CreditTransfer) -> str:
    """The pain.001.001.09 for one credit transfer, validated against its XSD."""
    from pyiso20022.pain.pain_001_001_09 import pain_001_001_09 as m

    amount = decimal_amount(transfer.amount_minor, transfer.currency)
    document = m.Document(
        cstmr_cdt_trf_initn=m.CustomerCreditTransferInitiationV09(
            grp_hdr=m.GroupHeader85(
                msg_id=transfer.msg_id,
                cre_dt_tm=XmlDateTime.from_datetime(transfer.created_at),
                nb_of_txs="1",
                ctrl_sum=amount,
                initg_pty=m.PartyIdentification135(nm=transfer.debtor_name),
            ),
            pmt_inf=[
                m.PaymentInstruction30(
                    pmt_inf_id=transfer.instr_id,
                    pmt_mtd=m.PaymentMethod3Code.TRF,
                    nb_of_txs="1",
                    ctrl_sum=amount,
                    reqd_exctn_dt=m.DateAndDateTime2Choice(
                        dt=XmlDate.from_date(transfer.requested_date)
                    ),
                    dbtr=m.PartyIdentification135(nm=transfer.debtor_name),
                    dbtr_acct=m.CashAccount38(id=_account(m, transfer.debtor_account)),
                    dbtr_agt=_agent(m, transfer.debtor_agent),
                    chrg_br=m.ChargeBearerType1Code.DEBT,
                    cdt_trf_tx_inf=[
                        m.CreditTransferTransaction34(
                            pmt_id=m.PaymentIdentification6(
                                instr_id=transfer.instr_id,
                                end_to_end_id=transfer.end_to_end_id,
                                uetr=str(transfer.uetr),
                            ),
                            amt=m.AmountType4Choice(
                                instd_amt=m.ActiveOrHistoricCurrencyAndAmount(
                                    value=amount, ccy=transfer.currency
                                )
                            ),
                            cdtr_agt=_agent(m, transfer.creditor_agent),
                            cdtr=m.PartyIdentification135(nm=transfer.creditor_name),
                            cdtr_acct=m.CashAccount38(id=_account(m, transfer.creditor_account)),
                            rmt_inf=m.RemittanceInformation16(ustrd=[transfer.remittance_info]),
                        )
                    ],
                )
            ],
        )
    )
    xml = _serialise(document)
    validate(xml, PAIN_001)
    return xml


# --- camt.054 / camt.053: what the bank reports -----------------------------------------------


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One booking on the account (an ``Ntry`` of a camt.054 or camt.053)."""

    amount_minor: int
    currency: str
    credit: bool  # CRDT: money in; DBIT: money out
    status: str  # BOOK, PDNG, INFO
    booking_date: date | None
    value_date: date | None
    acct_svcr_ref: str = ""
    instr_id: str = ""
    end_to_end_id: str = ""
    uetr: str = ""
    remittance_info: str = ""
    debtor_name: str = ""
    creditor_name: str = ""

    @property
    def signed(self) -> int:
        """As the bank sees it: + money in, - money out."""
        return self.amount_minor if self.credit else -self.amount_minor


@dataclass(frozen=True, slots=True)
class BankReport:
    """A received camt.054 or camt.053, its header and its entries."""

    message: str
    msg_id: str
    report_id: str  # Ntfctn/Id or Stmt/Id
    account: str
    currency: str
    statement_date: date | None
    entries: tuple[BankEntry, ...]
    opening: int | None = None  # camt.053 OPBD, signed minor units
    closing: int | None = None  # camt.053 CLBD


def _x(node: Any, path: str) -> list[Any]:
    return list(node.xpath(path))


def _first(node: Any, path: str) -> str:
    found = _x(node, path)
    if not found:
        return ""
    value = found[0]
    return str(value.text if hasattr(value, "text") else value).strip()


def _l(*names: str) -> str:
    """A namespace-free relative path (``Ntry/Amt`` -> ``*[local-name()='Ntry']/...``)."""
    return "/".join(f"*[local-name()='{n}']" for n in names)


def _date(text: str) -> date | None:
    if not text:
        return None
    return date.fromisoformat(text[:10])


def _entry(node: Any) -> BankEntry:
    amount = _x(node, _l("Amt"))[0]
    code = amount.get("Ccy", "")
    status = _first(node, _l("Sts", "Cd")) or _first(node, _l("Sts"))
    refs = _l("NtryDtls", "TxDtls", "Refs")
    parties = _l("NtryDtls", "TxDtls", "RltdPties")
    return BankEntry(
        amount_minor=minor_amount(amount.text, code),
        currency=code,
        credit=_first(node, _l("CdtDbtInd")) == "CRDT",
        status=status,
        booking_date=_date(
            _first(node, _l("BookgDt", "Dt")) or _first(node, _l("BookgDt", "DtTm"))
        ),
        value_date=_date(_first(node, _l("ValDt", "Dt")) or _first(node, _l("ValDt", "DtTm"))),
        acct_svcr_ref=_first(node, _l("AcctSvcrRef")),
        instr_id=_first(node, f"{refs}/{_l('InstrId')}"),
        end_to_end_id=_first(node, f"{refs}/{_l('EndToEndId')}"),
        uetr=_first(node, f"{refs}/{_l('UETR')}"),
        remittance_info=" ".join(
            (n.text or "").strip() for n in _x(node, _l("NtryDtls", "TxDtls", "RmtInf", "Ustrd"))
        ).strip(),
        # .08 wraps the party in Pty; .02 does not
        debtor_name=_first(node, f"{parties}/{_l('Dbtr', 'Pty', 'Nm')}")
        or _first(node, f"{parties}/{_l('Dbtr', 'Nm')}"),
        creditor_name=_first(node, f"{parties}/{_l('Cdtr', 'Pty', 'Nm')}")
        or _first(node, f"{parties}/{_l('Cdtr', 'Nm')}"),
    )


def _balance(report: Any, code: str) -> int | None:
    for bal in _x(report, _l("Bal")):
        kind = _first(bal, _l("Tp", "CdOrPrtry", "Cd")) or _first(bal, _l("Tp", "Cd"))
        if kind != code:
            continue
        amount = _x(bal, _l("Amt"))[0]
        value = minor_amount(amount.text, amount.get("Ccy", ""))
        return value if _first(bal, _l("CdtDbtInd")) == "CRDT" else -value
    return None


def report_read(xml: str | bytes, *, expect: frozenset[str] = RECEIVED) -> BankReport:
    """Validate a received camt.054/camt.053 and read its first report (a notification or
    statement per document is what the Settlement API sends)."""
    message = validate(xml)
    if message not in expect:
        raise IsoInvalid(f"{message} is not expected here")
    root = _parse(xml)
    body = root[0]
    report_tag = "Ntfctn" if message.startswith("camt.054") else "Stmt"
    reports = _x(body, _l(report_tag))
    if len(reports) != 1:
        raise IsoInvalid(f"{message}: one {report_tag} per document expected")
    report = reports[0]
    entries = tuple(_entry(n) for n in _x(report, _l("Ntry")))
    account = _first(report, _l("Acct", "Id", "IBAN")) or _first(
        report, _l("Acct", "Id", "Othr", "Id")
    )
    code = _first(report, _l("Acct", "Ccy")) or (entries[0].currency if entries else "")
    if any(e.currency != code for e in entries):
        raise IsoInvalid(f"{message}: entries in another currency than the account's")
    statement_date = None
    if report_tag == "Stmt":
        statement_date = _date(_first(report, _l("FrToDt", "FrDtTm"))) or _date(
            _first(report, _l("CreDtTm"))
        )
    return BankReport(
        message=message,
        msg_id=_first(body, _l("GrpHdr", "MsgId")),
        report_id=_first(report, _l("Id")),
        account=account,
        currency=code,
        statement_date=statement_date,
        entries=entries,
        opening=_balance(report, "OPBD") if report_tag == "Stmt" else None,
        closing=_balance(report, "CLBD") if report_tag == "Stmt" else None,
    )


# --- camt builders (the simulator's side: what LightWay Finance's bank sends) -----------------


@dataclass(frozen=True, slots=True)
class Booking:
    """A booking to report: the simulator's view of one entry."""

    amount_minor: int
    currency: str
    credit: bool
    booked_on: date
    acct_svcr_ref: str
    instr_id: str = ""
    end_to_end_id: str = ""
    uetr: str = ""
    remittance_info: str = ""
    debtor_name: str = ""
    creditor_name: str = ""


def _entry_v08(m: Any, b: Booking) -> Any:
    """A ReportEntry10 (camt.053.001.08 and camt.054.001.08 share the shape)."""
    amount = m.ActiveOrHistoricCurrencyAndAmount(
        value=decimal_amount(b.amount_minor, b.currency), ccy=b.currency
    )
    indicator = m.CreditDebitCode.CRDT if b.credit else m.CreditDebitCode.DBIT
    family = "RCDT" if b.credit else "ICDT"  # received / issued credit transfers
    refs = m.TransactionReferences6(
        acct_svcr_ref=b.acct_svcr_ref,
        instr_id=b.instr_id or None,
        end_to_end_id=b.end_to_end_id or None,
        uetr=b.uetr or None,
    )
    parties = m.TransactionParties6(
        dbtr=m.Party40Choice(pty=m.PartyIdentification135(nm=b.debtor_name))
        if b.debtor_name
        else None,
        cdtr=m.Party40Choice(pty=m.PartyIdentification135(nm=b.creditor_name))
        if b.creditor_name
        else None,
    )
    booked = m.DateAndDateTime2Choice(dt=XmlDate.from_date(b.booked_on))
    return m.ReportEntry10(
        amt=amount,
        cdt_dbt_ind=indicator,
        sts=m.EntryStatus1Choice(cd="BOOK"),
        bookg_dt=booked,
        val_dt=m.DateAndDateTime2Choice(dt=XmlDate.from_date(b.booked_on)),
        acct_svcr_ref=b.acct_svcr_ref,
        bk_tx_cd=m.BankTransactionCodeStructure4(
            domn=m.BankTransactionCodeStructure5(
                cd="PMNT",
                fmly=m.BankTransactionCodeStructure6(cd=family, sub_fmly_cd="XBCT"),
            )
        ),
        ntry_dtls=[
            m.EntryDetails9(
                tx_dtls=[
                    m.EntryTransaction10(
                        refs=refs,
                        amt=amount,
                        cdt_dbt_ind=indicator,
                        rltd_pties=parties,
                        rmt_inf=m.RemittanceInformation16(ustrd=[b.remittance_info])
                        if b.remittance_info
                        else None,
                    )
                ]
            )
        ],
    )


def camt054_build(
    *, msg_id: str, account: str, code: str, booking: Booking, created_at: datetime
) -> str:
    """A camt.054.001.08 notifying one booking, validated."""
    from pyiso20022.camt.camt_054_001_08 import camt_054_001_08 as m

    document = m.Document(
        bk_to_cstmr_dbt_cdt_ntfctn=m.BankToCustomerDebitCreditNotificationV08(
            grp_hdr=m.GroupHeader81(msg_id=msg_id, cre_dt_tm=XmlDateTime.from_datetime(created_at)),
            ntfctn=[
                m.AccountNotification17(
                    id=msg_id,
                    cre_dt_tm=XmlDateTime.from_datetime(created_at),
                    acct=m.CashAccount39(id=_account(m, account), ccy=code),
                    ntry=[_entry_v08(m, booking)],
                )
            ],
        )
    )
    xml = _serialise(document)
    validate(xml, CAMT_054)
    return xml


def _signed_balance(m: Any, code_type: str, amount: int, code: str, on: date, v2: bool) -> Any:
    indicator = m.CreditDebitCode.CRDT if amount >= 0 else m.CreditDebitCode.DBIT
    money = m.ActiveOrHistoricCurrencyAndAmount(value=decimal_amount(abs(amount), code), ccy=code)
    when = m.DateAndDateTimeChoice(dt=XmlDate.from_date(on)) if v2 else None
    if v2:
        return m.CashBalance3(
            tp=m.BalanceType12(cd_or_prtry=m.BalanceType5Choice(cd=m.BalanceType12Code(code_type))),
            amt=money,
            cdt_dbt_ind=indicator,
            dt=when,
        )
    return m.CashBalance8(
        tp=m.BalanceType13(cd_or_prtry=m.BalanceType10Choice(cd=code_type)),
        amt=money,
        cdt_dbt_ind=indicator,
        dt=m.DateAndDateTime2Choice(dt=XmlDate.from_date(on)),
    )


def _entry_v02(m: Any, b: Booking) -> Any:
    amount = m.ActiveOrHistoricCurrencyAndAmount(
        value=decimal_amount(b.amount_minor, b.currency), ccy=b.currency
    )
    indicator = m.CreditDebitCode.CRDT if b.credit else m.CreditDebitCode.DBIT
    parties = m.TransactionParty2(
        dbtr=m.PartyIdentification32(nm=b.debtor_name) if b.debtor_name else None,
        cdtr=m.PartyIdentification32(nm=b.creditor_name) if b.creditor_name else None,
    )
    return m.ReportEntry2(
        amt=amount,
        cdt_dbt_ind=indicator,
        sts=m.EntryStatus2Code.BOOK,
        bookg_dt=m.DateAndDateTimeChoice(dt=XmlDate.from_date(b.booked_on)),
        val_dt=m.DateAndDateTimeChoice(dt=XmlDate.from_date(b.booked_on)),
        acct_svcr_ref=b.acct_svcr_ref,
        bk_tx_cd=m.BankTransactionCodeStructure4(
            domn=m.BankTransactionCodeStructure5(
                cd="PMNT",
                fmly=m.BankTransactionCodeStructure6(
                    cd="RCDT" if b.credit else "ICDT", sub_fmly_cd="XBCT"
                ),
            )
        ),
        ntry_dtls=[
            m.EntryDetails1(
                tx_dtls=[
                    m.EntryTransaction2(
                        refs=m.TransactionReferences2(
                            acct_svcr_ref=b.acct_svcr_ref,
                            instr_id=b.instr_id or None,
                            end_to_end_id=b.end_to_end_id or None,
                        ),
                        rltd_pties=parties,
                        rmt_inf=m.RemittanceInformation5(ustrd=[b.remittance_info])
                        if b.remittance_info
                        else None,
                    )
                ]
            )
        ],
    )


def camt053_build(
    *,
    msg_id: str,
    stmt_id: str,
    account: str,
    code: str,
    statement_date: date,
    opening: int,
    bookings: list[Booking],
    created_at: datetime,
    version: str = CAMT_053,
) -> str:
    """A camt.053 (``.001.08`` or ``.001.02``) for one account and day, validated."""
    closing = opening + sum(b.amount_minor if b.credit else -b.amount_minor for b in bookings)
    period_start = datetime.combine(statement_date, datetime.min.time(), created_at.tzinfo)
    period_end = datetime.combine(statement_date, datetime.max.time(), created_at.tzinfo)
    if version == CAMT_053_V2:
        from pyiso20022.camt.camt_053_001_02 import camt_053_001_02 as m2

        statement2 = m2.AccountStatement2(
            id=stmt_id,
            cre_dt_tm=XmlDateTime.from_datetime(created_at),
            fr_to_dt=m2.DateTimePeriodDetails(
                fr_dt_tm=XmlDateTime.from_datetime(period_start),
                to_dt_tm=XmlDateTime.from_datetime(period_end.replace(microsecond=0)),
            ),
            acct=m2.CashAccount20(id=_account(m2, account), ccy=code),
            bal=[
                _signed_balance(m2, "OPBD", opening, code, statement_date, True),
                _signed_balance(m2, "CLBD", closing, code, statement_date, True),
            ],
            ntry=[_entry_v02(m2, b) for b in bookings],
        )
        document: Any = m2.Document(
            bk_to_cstmr_stmt=m2.BankToCustomerStatementV02(
                grp_hdr=m2.GroupHeader42(
                    msg_id=msg_id, cre_dt_tm=XmlDateTime.from_datetime(created_at)
                ),
                stmt=[statement2],
            )
        )
    elif version == CAMT_053:
        from pyiso20022.camt.camt_053_001_08 import camt_053_001_08 as m

        statement = m.AccountStatement9(
            id=stmt_id,
            cre_dt_tm=XmlDateTime.from_datetime(created_at),
            fr_to_dt=m.DateTimePeriod1(
                fr_dt_tm=XmlDateTime.from_datetime(period_start),
                to_dt_tm=XmlDateTime.from_datetime(period_end.replace(microsecond=0)),
            ),
            acct=m.CashAccount39(id=_account(m, account), ccy=code),
            bal=[
                _signed_balance(m, "OPBD", opening, code, statement_date, False),
                _signed_balance(m, "CLBD", closing, code, statement_date, False),
            ],
            ntry=[_entry_v08(m, b) for b in bookings],
        )
        document = m.Document(
            bk_to_cstmr_stmt=m.BankToCustomerStatementV08(
                grp_hdr=m.GroupHeader81(
                    msg_id=msg_id, cre_dt_tm=XmlDateTime.from_datetime(created_at)
                ),
                stmt=[statement],
            )
        )
    else:
        raise IsoInvalid(f"cannot build {version}")
    xml = _serialise(document)
    validate(xml, version)
    return xml
