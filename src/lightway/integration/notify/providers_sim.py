"""The notify simulator's Africa's Talking and Twilio wire formats, and their delivery
reports (issue 15).

The simulator answers on the providers' own paths with their authentication, status
codes and bodies, so that the platform's adapters (``africastalking.py``, ``twilio.py``)
and the providers' own client libraries (the tests use ``africastalking`` and ``twilio``
from PyPI) work against it unchanged but for the host:

- ``POST /version1/messaging`` (form: ``username``, ``to``, ``message``, ``from``), key in
  the ``apiKey`` header → ``201 {"SMSMessageData": {"Message", "Recipients": [...]}}``;
  a wrong username or key → ``401`` text ``The supplied authentication is invalid``; a
  missing field → ``400`` text; per recipient ``statusCode`` 101 (Success) with a cost in
  the number's currency, or 403 InvalidPhoneNumber;
- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form: ``To``, ``From`` or
  ``MessagingServiceSid``, ``Body``, ``StatusCallback``), basic authentication → ``201``
  with the message resource; ``401`` ``{"code": 20003}``, ``400`` ``{"code": 21211}`` for
  an invalid ``To``, ``21602`` for an empty body, ``21603`` without a sender.

Delivery reports go out from a background thread, as the providers send them: Africa's
Talking posts ``id``, ``status`` (``Sent`` then ``Success``, or ``Failed`` with a
``failureReason``), ``phoneNumber``, ``networkCode`` and ``retryCount`` to the callback
URL of the account (``at_callback_url``); Twilio posts ``MessageSid``, ``MessageStatus``
(``sent`` then ``delivered``, or ``undelivered``/``failed`` with an ``ErrorCode``),
``AccountSid``, ``From``, ``To`` and ``ApiVersion`` to the message's ``StatusCallback``,
signed with ``X-Twilio-Signature``. A report the platform does not take (no 2xx answer
within 5 s) is posted again after 0.5, 2 and 5 s (Africa's Talking's ``retryCount``
counts up). Knobs (``POST /_sim/faults``): ``at_errors`` N with
``at_status_code`` refuse Africa's Talking's next N recipients, ``twilio_errors`` N with
``twilio_error_code`` Twilio's next N messages;
``dlr_delay_ms`` delays reports; ``dlr_lose`` N sends no report for the next N messages,
``dlr_duplicate`` N sends each report twice, ``dlr_fail`` N ends the next N messages
failed, ``dlr_reverse`` N sends the final report before the intermediate one.
"""

from __future__ import annotations

import heapq
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import phonenumbers

from lightway.integration.notify.twilio import SIGNATURE_HEADER, twilio_signature

logger = logging.getLogger(__name__)

DEMO_AT_USERNAME = "sandbox"
DEMO_AT_API_KEY = "lightway-demo-africastalking-key"
DEMO_TWILIO_ACCOUNT_SID = "AC" + "1ac0ffee" * 4
DEMO_TWILIO_AUTH_TOKEN = "lightway-demo-twilio-token"  # the simulator's demo account

AT_PATH = "/version1/messaging"
TWILIO_PREFIX = "/2010-04-01/Accounts/"
AT_AUTH_REFUSED = "The supplied authentication is invalid"

# the sender's cost per message by the number's country, as Africa's Talking reports it
AT_COSTS = {
    "UG": "UGX 25.0000",
    "GH": "GHS 0.0500",
    "RW": "RWF 15.0000",
    "ZM": "ZMW 0.3000",
    "CI": "XOF 20.0000",
    "CM": "XAF 20.0000",
    "KE": "KES 0.8000",
}
AT_DEFAULT_COST = "USD 0.0500"
TWILIO_PRICE = "-0.07500"
# MTN's mobile network codes (MCC+MNC), which Africa's Talking reports as networkCode
NETWORK_CODES = {
    "UG": "64110",
    "GH": "62001",
    "RW": "63510",
    "ZM": "64502",
    "CI": "61205",
    "CM": "62401",
}
AT_STATUS_NAMES = {
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
TWILIO_ERRORS = {
    20429: (429, "Too Many Requests"),
    21211: (400, "The 'To' number is not a valid phone number."),
    21408: (400, "Permission to send an SMS has not been enabled for the region"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21612: (400, "The 'To' phone number is not currently reachable via SMS"),
    21614: (400, "'To' number is not a valid mobile number"),
    30001: (503, "Queue overflow"),
}


def country_of(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


@dataclass
class ProviderFaults:
    at_errors: int = 0  # the next N Africa's Talking recipients get at_status_code
    at_status_code: int = 403
    twilio_errors: int = 0  # the next N Twilio messages get twilio_error_code
    twilio_error_code: int = 21211
    dlr_delay_ms: int = 200
    dlr_lose: int = 0
    dlr_duplicate: int = 0
    dlr_fail: int = 0
    dlr_reverse: int = 0


@dataclass
class Report:
    provider: str
    url: str
    form: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # the platform's HTTP answer, once posted
    error: str = ""
    tries: int = 0


# A report the platform did not take (no answer, or not 2xx) is posted again after these
# delays, as the providers do (Africa's Talking counts them in ``retryCount``).
REPORT_RETRY_SECONDS = (0.5, 2.0, 5.0)


@dataclass(frozen=True)
class ProviderAccounts:
    at_username: str = DEMO_AT_USERNAME
    at_api_key: str = DEMO_AT_API_KEY
    at_callback_url: str = ""
    twilio_account_sid: str = DEMO_TWILIO_ACCOUNT_SID
    twilio_auth_token: str = DEMO_TWILIO_AUTH_TOKEN


class ReportSender:
    """Posts delivery reports when they are due, from one daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, Report]] = []
        self._order = 0
        self.sent: list[Report] = []
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="notify-sim-dlr", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def schedule(self, report: Report, *, delay_ms: int) -> None:
        with self._lock:
            self._order += 1
            heapq.heappush(self._due, (time.monotonic() + delay_ms / 1000, self._order, report))
            self._lock.notify_all()

    def _retry(self, report: Report) -> None:
        form = dict(report.form)
        if "retryCount" in form:
            form["retryCount"] = str(int(form["retryCount"] or 0) + 1)
        again = Report(
            provider=report.provider,
            url=report.url,
            form=form,
            headers=report.headers,
            tries=report.tries,
        )
        self.schedule(again, delay_ms=int(REPORT_RETRY_SECONDS[report.tries - 1] * 1000))

    def pending(self) -> int:
        with self._lock:
            return len(self._due)

    def clear(self) -> None:
        with self._lock:
            self._due.clear()
            self.sent.clear()

    def _run(self) -> None:
        """Post due reports; ``sent`` lists each report once it was taken or given up."""
        with httpx.Client(timeout=5.0, follow_redirects=False) as client:
            while True:
                with self._lock:
                    while not self._stopping and (
                        not self._due or self._due[0][0] > time.monotonic()
                    ):
                        wait = self._due[0][0] - time.monotonic() if self._due else None
                        self._lock.wait(timeout=wait)
                    if self._stopping:
                        return
                    _due, _n, report = heapq.heappop(self._due)
                report.tries += 1
                try:
                    answer = client.post(report.url, data=report.form, headers=report.headers)
                    report.status, report.error = answer.status_code, ""
                except httpx.HTTPError as exc:
                    report.status, report.error = None, type(exc).__name__
                taken = report.status is not None and 200 <= report.status < 300
                if not taken and report.tries <= len(REPORT_RETRY_SECONDS):
                    self._retry(report)
                    continue
                with self._lock:
                    self.sent.append(report)
                    del self.sent[:-1000]


class ProviderWire:
    """The two providers' endpoints, on the simulator's store and report sender."""

    def __init__(
        self,
        accounts: ProviderAccounts,
        *,
        add_message: Callable[..., Any],
        reports: ReportSender,
    ) -> None:
        self.accounts = accounts
        self.add_message = add_message
        self.reports = reports
        self.faults = ProviderFaults()
        self._lock = threading.Lock()

    # --- knobs ----------------------------------------------------------------------------

    def set_faults(self, values: dict[str, int]) -> ProviderFaults:
        with self._lock:
            self.faults = ProviderFaults(**values)
            return self.faults

    def _take(self, name: str) -> bool:
        with self._lock:
            left = getattr(self.faults, name)
            if left > 0:
                setattr(self.faults, name, left - 1)
                return True
            return False

    # --- Africa's Talking -----------------------------------------------------------------

    def africastalking(self, headers: Any, form: dict[str, str]) -> tuple[int, Any]:
        """(status, body): a dict body is JSON, a str body is text."""
        if (
            headers.get("apiKey") != self.accounts.at_api_key
            or form.get("username") != self.accounts.at_username
        ):
            return 401, AT_AUTH_REFUSED
        for name in ("username", "to", "message"):
            if not form.get(name):
                return 400, f"Request is missing required form field '{name}'"
        recipients: list[dict[str, object]] = []
        sent = 0
        for number in form["to"].split(","):
            number = number.strip()
            refused = self._take("at_errors")
            code = self.faults.at_status_code if refused else 101
            if not refused and not _valid(number):
                code = 403
            if code != 101:
                recipients.append(
                    {
                        "statusCode": code,
                        "number": number,
                        "status": AT_STATUS_NAMES.get(code, "Failed"),
                        "cost": "0",
                        "messageId": "None",
                    }
                )
                continue
            country = country_of(number)
            message = self.add_message(
                to=number,
                sender=form.get("from") or "AFRICASTKNG",
                text=form["message"],
                provider="africastalking",
            )
            message_id = "ATXid_" + secrets.token_hex(16)
            message.reference = message_id
            cost = AT_COSTS.get(country, AT_DEFAULT_COST)
            recipients.append(
                {
                    "statusCode": 101,
                    "number": number,
                    "status": "Success",
                    "cost": cost,
                    "messageId": message_id,
                }
            )
            sent += 1
            self._at_reports(message_id, number, country)
        costs = [str(r["cost"]) for r in recipients if r["statusCode"] == 101]
        total = f"Sent to {sent}/{len(recipients)} Total Cost: " + (costs[0] if costs else "0")
        return 201, {"SMSMessageData": {"Message": total, "Recipients": recipients}}

    def _at_reports(self, message_id: str, number: str, country: str) -> None:
        url = self.accounts.at_callback_url
        if not url or self._take("dlr_lose"):
            return
        failed = self._take("dlr_fail")
        base = {
            "id": message_id,
            "phoneNumber": number,
            "networkCode": NETWORK_CODES.get(country, "99999"),
            "retryCount": "0",
        }
        steps = [{**base, "status": "Sent"}]
        if failed:
            steps.append({**base, "status": "Failed", "failureReason": "DeliveryFailure"})
        else:
            steps.append({**base, "status": "Success"})
        self._schedule("africastalking", url, steps, {})

    # --- Twilio ---------------------------------------------------------------------------

    def twilio(
        self, path: str, authorization: tuple[str, str] | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        sid = path[len(TWILIO_PREFIX) :].split("/", 1)[0]
        if (
            authorization is None
            or authorization != (self.accounts.twilio_account_sid, self.accounts.twilio_auth_token)
            or sid != self.accounts.twilio_account_sid
        ):
            return 401, _twilio_error(20003, 401, "Authenticate")
        if path != f"{TWILIO_PREFIX}{sid}/Messages.json":
            return 404, _twilio_error(20404, 404, "The requested resource was not found")
        to = form.get("To", "")
        if not to:
            return 400, _twilio_error(21604, 400, "A 'To' phone number is required.")
        if not form.get("Body"):
            return 400, _twilio_error(21602, 400, "Message body is required.")
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not sender:
            return 400, _twilio_error(21603, 400, "A 'From' phone number is required.")
        if self._take("twilio_errors"):
            code = self.faults.twilio_error_code
            status, text = TWILIO_ERRORS.get(code, (400, "Refused"))
            return status, _twilio_error(code, status, text)
        if not _valid(to):
            return 400, _twilio_error(21211, 400, TWILIO_ERRORS[21211][1])
        message = self.add_message(to=to, sender=sender, text=form["Body"], provider="twilio")
        message_sid = "SM" + secrets.token_hex(16)
        message.reference = message_sid
        callback = form.get("StatusCallback", "")
        if callback:
            self._twilio_reports(message_sid, to, sender, callback)
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return 201, {
            "sid": message_sid,
            "account_sid": sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": TWILIO_PRICE,
            "price_unit": "USD",
            "status": "queued",
            "to": to,
            "uri": f"{TWILIO_PREFIX}{sid}/Messages/{message_sid}.json",
        }

    def _twilio_reports(self, message_sid: str, to: str, sender: str, url: str) -> None:
        if self._take("dlr_lose"):
            return
        failed = self._take("dlr_fail")
        base = {
            "MessageSid": message_sid,
            "SmsSid": message_sid,
            "AccountSid": self.accounts.twilio_account_sid,
            "From": sender,
            "To": to,
            "ApiVersion": "2010-04-01",
        }
        final = (
            {"MessageStatus": "undelivered", "SmsStatus": "undelivered", "ErrorCode": "30003"}
            if failed
            else {"MessageStatus": "delivered", "SmsStatus": "delivered"}
        )
        steps = [{**base, "MessageStatus": "sent", "SmsStatus": "sent"}, {**base, **final}]
        self._schedule("twilio", url, steps, {})

    def _schedule(
        self, provider: str, url: str, steps: list[dict[str, str]], headers: dict[str, str]
    ) -> None:
        if self._take("dlr_reverse"):
            steps = steps[::-1]
        if self._take("dlr_duplicate"):
            steps = [step for step in steps for _twice in (1, 2)]
        delay = self.faults.dlr_delay_ms
        for n, form in enumerate(steps):
            signed = dict(headers)
            if provider == "twilio":
                token = self.accounts.twilio_auth_token
                signed[SIGNATURE_HEADER] = twilio_signature(token, url, form)
            report = Report(provider=provider, url=url, form=form, headers=signed)
            self.reports.schedule(report, delay_ms=delay * (n + 1))


def _valid(number: str) -> bool:
    if not number.startswith("+"):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def _twilio_error(code: int, status: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
