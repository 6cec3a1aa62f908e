"""goAML XML from platform facts, built element by element with lxml (no text templates).

The input is already resolved (:mod:`lightway.application.goaml.facts`): transactions
with their two sides, each a customer wallet (with its holder, decrypted from the profile),
a mobile-money account, or an outside entity (a partner). The mapping follows section 2.8
of the compliance notes:

- a customer's wallet is a ``t_account`` of our institution (``non_bank_institution``
  true), its account number the holder's MSISDN, its holder the ``signatory`` (a
  ``t_person`` with the KYC name, date of birth, ID number, residence and phone);
- a deposit comes from the customer's own MoMo account (the MSISDN at the mobile-money
  operator), a withdrawal goes to it; a payout goes to the operator as an entity (the
  recipient's number is not part of the transfer record); an inbound remittance comes
  from the partner (IMTO) as an entity.

Why the plain ``t_from``/``t_to`` and not the ``*_my_client`` variants: those demand KYC
facts the platform does not hold (gender, ID issue and expiry dates, tax number; PPATK also
occupation, birth place, source of wealth). Filling them with invented values would make
a false statement to the FIU, so the file carries what KYC holds, completely, in the form
the schema allows for it. docs/goaml.md lists what to collect before switching.

Names are transliterated to the schema's alphabet and the original spelling is kept in
the person's ``comments``. Amounts are written from integer minor units as decimals
(``Decimal.scaleb``, never floats); dates as ``YYYY-MM-DDTHH:MM:SS`` in the FIU's local time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import phonenumbers
from lxml import etree

from lightway.application.goaml.text import code_clip, name_latin, name_split, text_clip
from lightway.data.goaml.models import FiuConfig
from lightway.data.money import currency

COMMENT_MAX = 4000
NAME_MAX = 100


@dataclass(frozen=True)
class Person:
    full_name: str  # as in KYC (any script)
    birth_date: date | None
    id_number: str
    phone: str  # E.164
    residence: str  # ISO 3166 alpha-2, may be empty


@dataclass(frozen=True)
class Side:
    kind: str  # "wallet" | "momo" | "entity"
    account: str = ""  # MSISDN for wallet and momo sides
    currency: str = ""
    holder: Person | None = None
    entity_name: str = ""


@dataclass(frozen=True)
class Txn:
    number: str  # the transfer id
    kind: str
    description: str
    at: datetime  # aware
    amount: int  # minor units of ``currency``
    currency: str
    source: Side
    destination: Side


@dataclass(frozen=True)
class Header:
    report: str  # "STR" | "CTR"
    reference: str  # entity_reference
    submitted_at: datetime  # aware
    reason: str = ""
    action: str = ""
    indicators: tuple[str, ...] = ()  # FIU codes


def amount_text(amount: int, code: str) -> str:
    """Minor units as the schema's decimal: UGX 20000000 -> "20000000", GHS 5000 -> "50.00"."""
    exponent = currency(code).exponent
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def date_text(moment: datetime, tz: ZoneInfo) -> str:
    """An aware moment as goAML's ``sql_date``: local time of the FIU, no zone, seconds."""
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0).isoformat()


def day_text(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, tag)
    if text is not None:
        node.text = text
    return node


class _Builder:
    def __init__(self, config: FiuConfig) -> None:
        self.config = config
        self.codes: dict[str, str] = dict(config.codes)
        self.tz = ZoneInfo(config.timezone)
        self.v5 = config.schema_version.startswith("5.")
        # 4.0.2 allows 50 characters for a transaction number and an account, 5.0.2 100/255.
        self.number_max = 100 if self.v5 else 50
        self.account_max = 255 if self.v5 else 50

    def report(self, header: Header, txns: Sequence[Txn]) -> bytes:
        cfg = self.config
        root = etree.Element("report")
        _sub(root, "rentity_id", str(cfg.rentity_id))
        if cfg.rentity_branch:
            _sub(root, "rentity_branch", text_clip(cfg.rentity_branch, max_length=255))
        _sub(root, "submission_code", cfg.submission_code)
        _sub(root, "report_code", str(cfg.report_codes[header.report]))
        _sub(root, "entity_reference", code_clip(header.reference, max_length=255))
        _sub(root, "submission_date", date_text(header.submitted_at, self.tz))
        _sub(root, "currency_code_local", cfg.currency_code_local)
        if header.reason:
            _sub(root, "reason", text_clip(header.reason, max_length=COMMENT_MAX))
        if header.action:
            _sub(root, "action", text_clip(header.action, max_length=COMMENT_MAX))
        for txn in txns:
            self._transaction(root, txn)
        if header.indicators:
            indicators = _sub(root, "report_indicators")
            for code in header.indicators:
                _sub(indicators, "indicator", code)
        return bytes(
            etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        )

    def _transaction(self, root: etree._Element, txn: Txn) -> None:
        node = _sub(root, "transaction")
        _sub(node, "transactionnumber", code_clip(txn.number, max_length=self.number_max))
        _sub(node, "internal_ref_number", code_clip(txn.number, max_length=255))
        _sub(
            node,
            "transaction_location",
            text_clip(self.codes["transaction_location"], max_length=255),
        )
        description = txn.description or txn.kind
        _sub(
            node,
            "transaction_description",
            text_clip(f"{txn.kind}: {description}", max_length=COMMENT_MAX),
        )
        _sub(node, "date_transaction", date_text(txn.at, self.tz))
        _sub(node, "transmode_code", self.codes["transmode_code"])
        _sub(node, "transmode_comment", self.codes["transmode_comment"])
        _sub(node, "amount_local", amount_text(txn.amount, txn.currency))
        self._side(node, "from", txn.source, txn.currency)
        self._side(node, "to", txn.destination, txn.currency)

    def _side(self, parent: etree._Element, way: str, side: Side, cur: str) -> None:
        node = _sub(parent, f"t_{way}")
        funds = "funds_code_wallet" if side.kind == "wallet" else "funds_code_momo"
        _sub(node, f"{way}_funds_code", self.codes[funds])
        if side.kind == "entity":
            entity = _sub(node, f"{way}_entity")
            _sub(entity, "name", text_clip(side.entity_name or "-", max_length=255))
        else:
            self._account(_sub(node, f"{way}_account"), side, cur)
        _sub(node, f"{way}_country", self.codes["country"])

    def _account(self, node: etree._Element, side: Side, cur: str) -> None:
        codes = self.codes
        ours = side.kind == "wallet"
        institution = codes["institution_name"] if ours else codes["momo_institution_name"]
        _sub(node, "institution_name", text_clip(institution, max_length=255))
        code = codes["institution_code"] if ours else codes["momo_institution_code"]
        _sub(node, "institution_code", code_clip(code, max_length=50))
        _sub(node, "non_bank_institution", "true")
        if ours:
            _sub(node, "branch", text_clip(codes["branch"], max_length=255))
        _sub(node, "account", code_clip(side.account or "-", max_length=self.account_max))
        _sub(node, "currency_code", side.currency or cur)
        holder = side.holder
        account_name = name_latin(holder.full_name, max_length=255) if holder else ""
        _sub(node, "account_name", account_name or "-")
        _sub(node, "personal_account_type", codes["account_type"])
        if holder is not None:
            signatory = _sub(node, "signatory")
            _sub(signatory, "is_primary", "1")
            self._person(_sub(signatory, "t_person"), holder)
            _sub(signatory, "role", codes["signatory_role"])

    def _person(self, node: etree._Element, person: Person) -> None:
        first, last = name_split(person.full_name)
        _sub(node, "first_name", first or "-")
        _sub(node, "last_name", last or "-")
        if person.birth_date is not None:
            _sub(node, "birthdate", day_text(person.birth_date))
        if person.id_number:
            _sub(node, "id_number", code_clip(person.id_number, max_length=255))
        if person.residence:
            _sub(node, "residence", person.residence)
        if person.phone:
            self._phone(_sub(node, "phones"), person.phone)
        original = person.full_name.strip()
        if original and original != f"{first} {last}" and original != first:
            _sub(
                node,
                "comments",
                text_clip(f"Name as recorded in KYC: {original}", max_length=COMMENT_MAX),
            )

    def _phone(self, node: etree._Element, e164: str) -> None:
        phone = _sub(node, "phone")
        _sub(phone, "tph_contact_type", self.codes["contact_type"])
        _sub(phone, "tph_communication_type", self.codes["communication_type"])
        try:
            parsed = phonenumbers.parse(e164, None)
            prefix, national = str(parsed.country_code), str(parsed.national_number)
        except phonenumbers.NumberParseException:
            prefix, national = "", "".join(ch for ch in e164 if ch.isdigit())
        if prefix:
            _sub(phone, "tph_country_prefix", prefix[:4])
        _sub(phone, "tph_number", national[:50] or "-")


def report_xml(*, config: FiuConfig, header: Header, transactions: Sequence[Txn]) -> bytes:
    """One goAML ``<report>`` document (UTF-8 bytes); validate it before release."""
    return _Builder(config).report(header, transactions)
