"""The port of the LightWay Finance Settlement API (docs/settlement-api.yaml).

Use cases depend on :class:`SettlementApi`; :mod:`.client` implements it over HTTPS and
:mod:`.simulator` stands in for the real service. Field names on the wire are ISO 20022's
(``InstrId``, ``EndToEndId``, ``UETR``, ``IntrBkSttlmAmt``/``Ccy``, ``IntrBkSttlmDt``,
``ChrgBr``, ``Dbtr``/``Cdtr``, ``DbtrAcct``/``CdtrAcct``, ``RmtInf``...), so a bank maps
them one to one onto its pacs.008 / pain.001.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from lightway.integration.settlement.iso20022 import decimal_amount, minor_amount

# pacs.002 transaction statuses the API answers with.
ACCEPTED_TECHNICAL = "ACTC"  # received and checked; settlement not started
IN_PROCESS = "ACSP"  # settlement in process
SETTLED = "ACSC"  # settlement completed (booked)
REJECTED = "RJCT"
PENDING = "PDNG"
STATUSES = frozenset({ACCEPTED_TECHNICAL, IN_PROCESS, SETTLED, REJECTED, PENDING})
CHARGE_BEARER = "DEBT"  # the debtor bears the charges: what arrives is what was instructed


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    account: str
    agent_bic: str = ""


@dataclass(frozen=True, slots=True)
class InstructionRequest:
    instr_id: str
    end_to_end_id: str
    uetr: uuid.UUID
    requested_date: date
    amount_minor: int
    currency: str
    debtor: Party
    creditor: Party
    remittance_info: str
    pain001: str = ""  # the validated pain.001 of a payment LightWay makes

    def body(self) -> dict[str, Any]:
        """The JSON body of ``POST /v1/instructions``."""
        body: dict[str, Any] = {
            "InstrId": self.instr_id,
            "EndToEndId": self.end_to_end_id,
            "UETR": str(self.uetr),
            "ReqdExctnDt": self.requested_date.isoformat(),
            "IntrBkSttlmAmt": {
                "Amt": str(decimal_amount(self.amount_minor, self.currency)),
                "Ccy": self.currency,
            },
            "ChrgBr": CHARGE_BEARER,
            "Dbtr": {"Nm": self.debtor.name},
            "DbtrAcct": {"Id": self.debtor.account},
            "DbtrAgt": {"BICFI": self.debtor.agent_bic} if self.debtor.agent_bic else {},
            "Cdtr": {"Nm": self.creditor.name},
            "CdtrAcct": {"Id": self.creditor.account},
            "CdtrAgt": {"BICFI": self.creditor.agent_bic} if self.creditor.agent_bic else {},
            "RmtInf": {"Ustrd": self.remittance_info},
        }
        if self.pain001:
            body["Pain001"] = self.pain001
        return body


@dataclass(frozen=True, slots=True)
class InstructionStatus:
    """What the API says about one instruction (a status read or a callback body)."""

    instr_id: str
    end_to_end_id: str
    uetr: str
    status: str
    settlement_date: date | None = None
    amount_minor: int | None = None
    currency: str = ""
    acct_svcr_ref: str = ""
    reason_code: str = ""
    reason_text: str = ""

    @property
    def settled(self) -> bool:
        return self.status == SETTLED

    @property
    def rejected(self) -> bool:
        return self.status == REJECTED

    @classmethod
    def from_json(cls, data: Any) -> InstructionStatus:
        """Read a status document; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("a status document is a JSON object")
        status = data.get("TxSts")
        instr_id = data.get("InstrId")
        if not isinstance(status, str) or status not in STATUSES:
            raise ValueError(f"unknown TxSts {status!r}")
        if not isinstance(instr_id, str) or not instr_id:
            raise ValueError("InstrId missing")
        amount = data.get("IntrBkSttlmAmt") or {}
        code = str(amount.get("Ccy") or "") if isinstance(amount, dict) else ""
        minor = None
        if code and isinstance(amount, dict) and amount.get("Amt") is not None:
            minor = minor_amount(str(amount["Amt"]), code)
        reason = data.get("StsRsnInf") or {}
        settled_on = data.get("IntrBkSttlmDt")
        return cls(
            instr_id=instr_id,
            end_to_end_id=str(data.get("EndToEndId") or ""),
            uetr=str(data.get("UETR") or ""),
            status=status,
            settlement_date=date.fromisoformat(settled_on) if settled_on else None,
            amount_minor=minor,
            currency=code,
            acct_svcr_ref=str(data.get("AcctSvcrRef") or "")[:35],
            reason_code=str(reason.get("Rsn", {}).get("Cd") or "")[:8]
            if isinstance(reason, dict) and isinstance(reason.get("Rsn"), dict)
            else "",
            reason_text=str(reason.get("AddtlInf") or "")[:300] if isinstance(reason, dict) else "",
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """A camt.054 document the API holds for our account, with its cursor id."""

    id: str
    xml: str


class SettlementError(Exception):
    """The Settlement API refused or failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, code: str = "", message: str = "") -> None:
        super().__init__(f"settlement API {status or 'unreachable'}: {code} {message}".strip())
        self.status = status
        self.code = code
        self.message = message


class SettlementUnavailable(SettlementError):
    """No answer, a timeout or a 5xx: the same request may be sent again (same InstrId)."""


class SettlementUnauthorized(SettlementError):
    """401: our signature or key was refused (a configuration problem, not retried)."""


class SettlementConflict(SettlementError):
    """409: this InstrId was already used with a different body."""


class SettlementRefused(SettlementError):
    """400/422: the request cannot be taken as it is (its ``code`` says why)."""


class SettlementNotFound(SettlementError):
    """404: no such instruction (or account, or statement)."""


class SettlementApi(Protocol):
    def instruction_submit(self, request: InstructionRequest) -> InstructionStatus: ...

    def instruction_status(self, instr_id: str) -> InstructionStatus: ...

    def notifications(
        self, *, account: str, after: str = "", limit: int = 100
    ) -> tuple[list[Notification], str]: ...

    def statement(self, *, account: str, on: date, version: str = "") -> str: ...
