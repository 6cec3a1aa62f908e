"""The MTN MoMo port: what use cases need from MoMo, and its typed errors.

The application layer depends on :class:`MomoGateway`; ``client.MomoClient`` implements it
over HTTPS against MTN (or ``simulator.MomoSimulator`` in tests and ``lightway up``).

Every money operation is described once by an :class:`Operation` (product, paths, which
body field names the party, which HTTP method MoMo uses for its callback), so the client,
the simulator and the flows agree on them. Amounts cross this port as **strings** the way
MoMo sends them ("1000", "12.50"); converting to integer minor units is the caller's job
(``lightway.data.money.Money.from_major``) so no float ever touches money.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol


class Product(enum.StrEnum):
    COLLECTION = "collection"
    DISBURSEMENT = "disbursement"
    REMITTANCE = "remittance"


@dataclass(frozen=True)
class OperationSpec:
    product: Product
    create_path: str  # POST, relative to the product root, e.g. "/v1_0/requesttopay"
    status_path: str  # GET "{status_path}/{referenceId}"
    party_field: str  # "payer" or "payee"
    callback_method: str  # "PUT" or "POST" (what MoMo uses for this operation's callback)
    inbound: bool  # True when money comes into the float (collections)


class Operation(enum.StrEnum):
    REQUEST_TO_PAY = "requesttopay"
    REQUEST_TO_WITHDRAW = "requesttowithdraw"
    TRANSFER = "transfer"  # disbursement transfer
    DEPOSIT = "deposit"
    REFUND = "refund"
    REMITTANCE_TRANSFER = "remittance_transfer"
    CASH_TRANSFER = "cashtransfer"

    @property
    def spec(self) -> OperationSpec:
        return OPERATIONS[self]

    @property
    def product(self) -> Product:
        return OPERATIONS[self].product


OPERATIONS: dict[Operation, OperationSpec] = {
    Operation.REQUEST_TO_PAY: OperationSpec(
        Product.COLLECTION, "/v1_0/requesttopay", "/v1_0/requesttopay", "payer", "PUT", True
    ),
    Operation.REQUEST_TO_WITHDRAW: OperationSpec(
        Product.COLLECTION,
        "/v2_0/requesttowithdraw",
        "/v1_0/requesttowithdraw",
        "payer",
        "PUT",
        True,
    ),
    Operation.TRANSFER: OperationSpec(
        Product.DISBURSEMENT, "/v1_0/transfer", "/v1_0/transfer", "payee", "PUT", False
    ),
    Operation.DEPOSIT: OperationSpec(
        Product.DISBURSEMENT, "/v2_0/deposit", "/v1_0/deposit", "payee", "PUT", False
    ),
    Operation.REFUND: OperationSpec(
        Product.DISBURSEMENT, "/v2_0/refund", "/v1_0/refund", "", "PUT", False
    ),
    Operation.REMITTANCE_TRANSFER: OperationSpec(
        Product.REMITTANCE, "/v1_0/transfer", "/v1_0/transfer", "payee", "PUT", False
    ),
    Operation.CASH_TRANSFER: OperationSpec(
        Product.REMITTANCE, "/v2_0/cashtransfer", "/v2_0/cashtransfer", "payee", "PUT", False
    ),
}


class MomoStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    CREATED = "CREATED"  # seen on the sandbox before PENDING; treat as pending


@dataclass(frozen=True)
class Party:
    party_id: str
    party_id_type: str = "MSISDN"  # MSISDN | EMAIL | PARTY_CODE

    def as_json(self) -> dict[str, str]:
        return {"partyIdType": self.party_id_type, "partyId": self.party_id}


@dataclass(frozen=True)
class MomoReason:
    """A failure reason in any shape MoMo sends: a bare string, ``{code, message}`` or the
    invoice API's ``errorReason``. Unknown codes are kept verbatim (never rejected)."""

    code: str
    message: str = ""

    @classmethod
    def parse(cls, value: Any) -> MomoReason | None:
        if value is None or value == "" or value == {}:
            return None
        if isinstance(value, str):
            return cls(code=value.strip() or "UNSPECIFIED")
        if isinstance(value, dict):
            code = value.get("code") or value.get("errorCode") or "UNSPECIFIED"
            message = value.get("message") or value.get("errorMessage") or ""
            return cls(code=str(code), message=str(message))
        return cls(code="UNSPECIFIED", message=str(value)[:300])


@dataclass(frozen=True)
class MomoResult:
    """A status read (GET .../{referenceId}) or a callback body, parsed tolerantly."""

    status: str  # MomoStatus value, or whatever unknown string MoMo sent
    amount: str | None = None
    currency: str | None = None
    external_id: str | None = None
    financial_transaction_id: str | None = None
    reason: MomoReason | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def successful(self) -> bool:
        return self.status == MomoStatus.SUCCESSFUL

    @property
    def failed(self) -> bool:
        return self.status == MomoStatus.FAILED

    @property
    def terminal(self) -> bool:
        return self.successful or self.failed

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MomoResult:
        status = str(data.get("status") or "").strip().upper() or "PENDING"
        fin = data.get("financialTransactionId")
        reason = MomoReason.parse(data.get("reason") or data.get("errorReason"))
        if reason is None and data.get("code"):
            # Some answers put the reason at the top level: {"status": .., "code", "message"}.
            reason = MomoReason.parse({"code": data.get("code"), "message": data.get("message")})
        return cls(
            status=status,
            amount=None if data.get("amount") is None else str(data.get("amount")),
            currency=None if data.get("currency") is None else str(data.get("currency")),
            external_id=None if data.get("externalId") is None else str(data.get("externalId")),
            financial_transaction_id=None if fin in (None, "") else str(fin),
            reason=reason,
            raw=data,
        )


@dataclass(frozen=True)
class Balance:
    available_balance: str  # decimal string as MoMo sends it
    currency: str


@dataclass(frozen=True)
class BasicUserInfo:
    given_name: str = ""
    family_name: str = ""
    name: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return self.name or " ".join(p for p in (self.given_name, self.family_name) if p)


@dataclass(frozen=True)
class MomoTarget:
    """Where and as whom to call: fixed per request and stored with it (§14.13)."""

    base_url: str
    environment: str  # X-Target-Environment, e.g. "sandbox", "mtnuganda"


# --- errors -------------------------------------------------------------------------


class MomoError(Exception):
    """Base of every MoMo failure. ``transient`` says whether retrying (same reference)
    may succeed; ``code`` is MoMo's error code or ours (``timeout``, ``connection``)."""

    transient = False

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class MomoConfigError(MomoError):
    """Our configuration is wrong (bad subscription key, API user, target environment,
    callback host): no retry helps; an operator must fix settings."""


class MomoAuthError(MomoError):
    """Token request refused (``{"error":"login_failed"}``) or 401 after one refresh."""


class MomoRejected(MomoError):
    """MoMo refused this request (400/403/500 with a definite business code such as
    ``PAYER_NOT_FOUND``, ``NOT_ENOUGH_FUNDS``, ``INVALID_CURRENCY``): nothing was created."""


class MomoDuplicate(MomoError):
    """409 ``RESOURCE_ALREADY_EXIST``: the reference exists at MoMo; read its status."""


class MomoNotFound(MomoError):
    """404 ``RESOURCE_NOT_FOUND`` on a status read (may be transient just after a 202)."""


class MomoTransient(MomoError):
    """Timeout, connection error, 429 or 5xx without a definite business code: the request
    may or may not have reached MoMo; retry with the same reference or read its status."""

    transient = True


class MomoGateway(Protocol):
    def create(
        self,
        operation: Operation,
        *,
        reference_id: uuid.UUID,
        body: dict[str, Any],
        target: MomoTarget,
        callback_url: str | None = None,
    ) -> None:
        """POST the operation; returns on 202. Raises MomoDuplicate on 409."""

    def status(
        self, operation: Operation, *, reference_id: uuid.UUID, target: MomoTarget
    ) -> MomoResult: ...

    def account_holder_active(
        self, product: Product, party: Party, *, target: MomoTarget
    ) -> bool: ...

    def basic_user_info(
        self, product: Product, party: Party, *, target: MomoTarget
    ) -> BasicUserInfo: ...

    def balance(
        self, product: Product, *, target: MomoTarget, currency: str | None = None
    ) -> Balance: ...

    def delivery_notification(
        self, *, reference_id: uuid.UUID, message: str, target: MomoTarget
    ) -> None: ...
