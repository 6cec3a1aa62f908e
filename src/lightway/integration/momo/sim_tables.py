"""Data tables of the MoMo simulator: target environments and the sandbox test scenarios.

The official sandbox test-number table (reference note §11.2) names a *scenario* per MSISDN
and operation family; :data:`SCENARIOS` says what each scenario does in the simulator (final
status, reason code, or an HTTP answer for the account-holder checks). Where MTN's sources
disagree the choice is written next to the entry (see ``docs/momo.md`` "Simulator").
"""

from __future__ import annotations

from dataclasses import dataclass

# X-Target-Environment -> the only currency it accepts (sandbox: EUR only, §1.5).
ENVIRONMENTS: dict[str, str] = {
    "sandbox": "EUR",
    "mtnuganda": "UGX",
    "mtnghana": "GHS",
    "mtncameroon": "XAF",
    "mtnrwanda": "RWF",
    "mtnzambia": "ZMW",
    "mtnivorycoast": "XOF",
}

# Decimal places used when the simulator writes amounts (statement, balances).
CURRENCY_EXPONENT: dict[str, int] = {
    "EUR": 2,
    "UGX": 0,
    "GHS": 2,
    "XAF": 0,
    "RWF": 0,
    "ZMW": 2,
    "XOF": 0,
}

PRODUCTS = ("collection", "disbursement", "remittance")


@dataclass(frozen=True)
class Scenario:
    """What a test number does. ``outcome`` is one of:

    - ``"fail"``: the transaction ends FAILED with ``reason``;
    - ``"ongoing"``: it stays PENDING until :meth:`MomoSimulator.complete`;
    - ``"delayed"``: PENDING (CREATED in the observed profile), then SUCCESSFUL after
      the ``delayed_seconds`` knob.
    """

    name: str
    outcome: str
    reason: str = ""


def _fail(name: str, reason: str) -> Scenario:
    return Scenario(name, "fail", reason)


ONGOING = "ongoing"
DELAYED = "delayed"

# --- RequestToPay / RequestToWithdraw / Deposit (the payer column of §11.2) ---------------
# 450 "PayerFailed" ends as INTERNAL_PROCESSING_ERROR (momo.rs integration tests, §11.3).
PAYER_TABLE: dict[str, Scenario] = {
    "46733123450": _fail("PayerFailed", "INTERNAL_PROCESSING_ERROR"),
    "46733123451": _fail("PayerRejected", "APPROVAL_REJECTED"),
    "46733123452": _fail("PayerExpired", "EXPIRED"),
    "46733123453": Scenario("PayerOngoing", ONGOING),
    "46733123454": Scenario("PayerDelayed", DELAYED),
    "46733123455": _fail("PayerNotFound", "PAYER_NOT_FOUND"),
    "46733123456": _fail("PayeeNotAllowedToReceive", "PAYEE_NOT_ALLOWED_TO_RECEIVE"),
    "46733123457": _fail("PayerNotAllowed", "NOT_ALLOWED"),
    "46733123458": _fail("NotAllowedTargetEnvironment", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "46733123459": _fail("InvalidCallbackUrlHost", "INVALID_CALLBACK_URL_HOST"),
    "46733123460": _fail("InvalidCurrency", "INVALID_CURRENCY"),
    "46733123461": _fail("InternalProcessingError", "INTERNAL_PROCESSING_ERROR"),
    "46733123462": _fail("ServiceUnavailable", "SERVICE_UNAVAILABLE"),
    "46733123463": _fail("CouldNotPerformTransaction", "COULD_NOT_PERFORM_TRANSACTION"),
}
# Only RequestToPay has the 464 row (portal dump).
REQUEST_TO_PAY_EXTRA: dict[str, Scenario] = {
    "46733123464": _fail("TransfertypeUnknown", "TRANSFERTYPE_UNKNOWN"),
}

# --- Transfer (disbursement + remittance transfer and cash transfer: the payee column) -----
PAYEE_TABLE: dict[str, Scenario] = {
    "46733123450": _fail("PayeeFailed", "INTERNAL_PROCESSING_ERROR"),
    "46733123451": _fail("PayeeRejected", "APPROVAL_REJECTED"),
    "46733123452": _fail("PayeeExpired", "EXPIRED"),
    "46733123453": Scenario("PayeeOngoing", ONGOING),
    "46733123454": Scenario("PayeeDelayed", DELAYED),
    "46733123455": _fail("PayeeNotEnoughFunds", "NOT_ENOUGH_FUNDS"),
    "46733123456": _fail("PayeePayerLimitReached", "PAYER_LIMIT_REACHED"),
    "46733123457": _fail("PayeeNotFound", "PAYEE_NOT_FOUND"),
    "46733123458": _fail("PayeeNotAllowed", "NOT_ALLOWED"),
    "46733123459": _fail("NotAllowedTargetEnvironment", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "46733123460": _fail("InvalidCallbackUrlHost", "INVALID_CALLBACK_URL_HOST"),
    "46733123461": _fail("InvalidCurrency", "INVALID_CURRENCY"),
    "46733123462": _fail("InternalProcessingError", "INTERNAL_PROCESSING_ERROR"),
    "46733123463": _fail("ServiceUnavailable", "SERVICE_UNAVAILABLE"),
}

# --- Refund (keyed by referenceIdToRefund "1".."13") and cash transfer (externalId) --------
REFUND_TABLE: dict[str, Scenario] = {
    "1": _fail("NotFound", "RESOURCE_NOT_FOUND"),
    "2": _fail("Failed", "INTERNAL_PROCESSING_ERROR"),
    "3": _fail("Rejected", "APPROVAL_REJECTED"),
    "4": _fail("Expired", "EXPIRED"),
    "5": Scenario("Ongoing", ONGOING),
    "6": Scenario("Delayed", DELAYED),
    "7": _fail("NotAllowed", "NOT_ALLOWED"),
    "8": _fail("NotAllowedTargetEnvironment", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "9": _fail("InvalidCallbackUrlHost", "INVALID_CALLBACK_URL_HOST"),
    "10": _fail("InvalidCurrency", "INVALID_CURRENCY"),
    "11": _fail("InternalProcessingError", "INTERNAL_PROCESSING_ERROR"),
    "12": _fail("ServiceUnavailable", "SERVICE_UNAVAILABLE"),
    "13": _fail("CouldNotPerformTransaction", "COULD_NOT_PERFORM_TRANSACTION"),
}
CASH_TRANSFER_TABLE: dict[str, Scenario] = {
    **REFUND_TABLE,
    "5": _fail("PayeeNotFound", "PAYEE_NOT_FOUND"),
    "6": _fail("PayeeNotAllowedToReceive", "PAYEE_NOT_ALLOWED_TO_RECEIVE"),
}

# --- Account holder "active" (and basicuserinfo): (HTTP status, body) per number/email -----
# NotFound / NotActive answer 200 {"result": false}; the others are the error answers.
ACTIVE_ERRORS: dict[str, tuple[int, str]] = {
    "NotAllowed": (500, "NOT_ALLOWED"),
    "NotAllowedTargetEnvironment": (500, "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "InternalProcessingError": (500, "INTERNAL_PROCESSING_ERROR"),
    "ServiceUnavailable": (503, "SERVICE_UNAVAILABLE"),
}
ACTIVE_TABLE: dict[str, str] = {
    "46733123450": "NotFound",
    "46733123451": "NotActive",
    "46733123452": "NotAllowed",
    "46733123453": "NotAllowedTargetEnvironment",
    "46733123454": "InternalProcessingError",
    "46733123455": "ServiceUnavailable",
}
ACTIVE_EMAILS: dict[str, str] = {
    "notfound": "NotFound",
    "notactive": "NotActive",
    "notallowed": "NotAllowed",
    "notallowedtargetenvironment": "NotAllowedTargetEnvironment",
    "internalprocessingerror": "InternalProcessingError",
    "serviceunavailable": "ServiceUnavailable",
}

MESSAGES: dict[str, str] = {
    "PAYEE_NOT_FOUND": "Payee does not exist",
    "PAYER_NOT_FOUND": "Payer does not exist",
    "NOT_ALLOWED": "Authorization failed. User does not have permission.",
    "NOT_ALLOWED_TARGET_ENVIRONMENT": "Access to target environment is forbidden.",
    "INVALID_CALLBACK_URL_HOST": "Callback URL with host not allowed.",
    "INVALID_CURRENCY": "Currency not supported.",
    "SERVICE_UNAVAILABLE": "Service unavailable.",
    "INTERNAL_PROCESSING_ERROR": "An internal error occurred while processing.",
    "NOT_ENOUGH_FUNDS": "The payer does not have enough funds.",
    "PAYER_LIMIT_REACHED": "The payer's limit has been breached.",
    "PAYEE_NOT_ALLOWED_TO_RECEIVE": "The payee is not allowed to receive the funds.",
    "PAYMENT_NOT_APPROVED": "The payment was not approved by the payer.",
    "RESOURCE_NOT_FOUND": "Requested resource was not found.",
    "APPROVAL_REJECTED": "The approval was rejected.",
    "EXPIRED": "The request expired.",
    "TRANSACTION_CANCELED": "The transaction was canceled.",
    "RESOURCE_ALREADY_EXIST": "Duplicated reference id. Creation of resource failed.",
    "COULD_NOT_PERFORM_TRANSACTION": "Could not perform the transaction.",
    "TRANSFERTYPE_UNKNOWN": "Transfer type unknown.",
}


def message_for(code: str) -> str:
    return MESSAGES.get(code, code.replace("_", " ").capitalize())
