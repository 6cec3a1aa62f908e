"""Africa's Talking and Twilio (issue 15): the simulator speaks both wire formats, proven
with the providers' own client libraries from PyPI pointed at it; the platform's adapters
map every answer to the port's error model; delivery reports leave the simulator as the
providers send them (Twilio's signed)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import africastalking
import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client as TwilioClient

from lightway.integration.notify.africastalking import AfricasTalkingSmsGateway, cost_parse
from lightway.integration.notify.port import (
    NotifyNotConfigured,
    NotifyPermanentError,
    NotifyTemporaryError,
)
from lightway.integration.notify.providers_sim import (
    DEMO_AT_API_KEY,
    DEMO_AT_USERNAME,
    DEMO_TWILIO_ACCOUNT_SID,
    DEMO_TWILIO_AUTH_TOKEN,
)
from lightway.integration.notify.twilio import (
    SIGNATURE_HEADER,
    TwilioSmsGateway,
    signature_valid,
    twilio_signature,
)

UG = "+256772123456"
GH = "+233241234567"
CODE_TEXT = "Your LightWay code is 482913"


@pytest.fixture
def sim(notify_simulator):
    notify_simulator.reset()
    yield notify_simulator
    notify_simulator.reset()


class _Receiver:
    """A platform stand-in that records every delivery report posted to it."""

    def __init__(self) -> None:
        received: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                received.append((self.path, form, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, seconds: float = 5.0) -> list[tuple[str, dict, dict]]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


def _at(sim, **kw) -> AfricasTalkingSmsGateway:
    return AfricasTalkingSmsGateway(
        base_url=sim.base_url,
        username=kw.pop("username", DEMO_AT_USERNAME),
        api_key=kw.pop("api_key", DEMO_AT_API_KEY),
        sender_ids={"UG": "LIGHTWAY", "*": "LightWay"},
        **kw,
    )


def _twilio(sim, **kw) -> TwilioSmsGateway:
    return TwilioSmsGateway(
        base_url=sim.base_url,
        account_sid=DEMO_TWILIO_ACCOUNT_SID,
        auth_token=kw.pop("auth_token", DEMO_TWILIO_AUTH_TOKEN),
        senders={"*": "LightWay"},
        **kw,
    )


# --- the providers' own libraries against the simulator ------------------------------------


def test_africastalking_library_sends_through_the_simulator(sim):
    africastalking.initialize(DEMO_AT_USERNAME, DEMO_AT_API_KEY)
    sms = africastalking.SMS
    sms._baseUrl = sim.base_url + "/version1"  # the library's host, pointed at the simulator
    answer = sms.send(CODE_TEXT, [UG], sender_id="LIGHTWAY")
    (recipient,) = answer["SMSMessageData"]["Recipients"]
    assert recipient["statusCode"] == 101 and recipient["status"] == "Success"
    assert recipient["cost"] == "UGX 25.0000" and recipient["messageId"].startswith("ATXid_")
    (message,) = sim.messages(to=UG)
    assert (message.text, message.sender, message.provider) == (
        CODE_TEXT,
        "LIGHTWAY",
        "africastalking",
    )
    assert message.reference == recipient["messageId"]

    bad = africastalking.SMSService(DEMO_AT_USERNAME, "wrong-key")
    bad._baseUrl = sim.base_url + "/version1"
    with pytest.raises(africastalking.Service.AfricasTalkingException, match="authentication"):
        bad.send(CODE_TEXT, [UG])


def test_africastalking_library_sees_an_invalid_number_per_recipient(sim):
    sms = africastalking.SMSService(DEMO_AT_USERNAME, DEMO_AT_API_KEY)
    sms._baseUrl = sim.base_url + "/version1"
    answer = sms.send(CODE_TEXT, ["+2567000"])
    (recipient,) = answer["SMSMessageData"]["Recipients"]
    assert (recipient["statusCode"], recipient["status"]) == (403, "InvalidPhoneNumber")
    assert sim.messages() == []


def test_twilio_library_sends_through_the_simulator(sim, receiver):
    client = TwilioClient(DEMO_TWILIO_ACCOUNT_SID, DEMO_TWILIO_AUTH_TOKEN)
    client.api.base_url = sim.base_url  # the library's host, pointed at the simulator
    message = client.messages.create(
        to=GH, from_="LightWay", body=CODE_TEXT, status_callback=receiver.url + "/twilio"
    )
    assert message.sid.startswith("SM") and message.status == "queued"
    assert message.price == "-0.07500" and message.price_unit == "USD"
    (stored,) = sim.messages(to=GH)
    assert (stored.provider, stored.reference) == ("twilio", message.sid)

    reports = receiver.wait(2)
    assert [form["MessageStatus"] for _path, form, _h in reports] == ["sent", "delivered"]
    validator = RequestValidator(DEMO_TWILIO_AUTH_TOKEN)
    for _path, form, headers in reports:
        # the library's own validator accepts the simulator's signature
        assert validator.validate(receiver.url + "/twilio", form, headers[SIGNATURE_HEADER])
        assert form["MessageSid"] == message.sid and form["AccountSid"] == DEMO_TWILIO_ACCOUNT_SID


def test_twilio_library_gets_twilio_errors(sim):
    client = TwilioClient(DEMO_TWILIO_ACCOUNT_SID, DEMO_TWILIO_AUTH_TOKEN)
    client.api.base_url = sim.base_url
    with pytest.raises(TwilioRestException) as invalid:
        client.messages.create(to="+2330", from_="LightWay", body=CODE_TEXT)
    assert (invalid.value.status, invalid.value.code) == (400, 21211)
    with pytest.raises(TwilioRestException) as empty:
        client.messages.create(to=GH, from_="LightWay", body="")
    assert empty.value.code == 21602

    wrong = TwilioClient(DEMO_TWILIO_ACCOUNT_SID, "not-the-token")
    wrong.api.base_url = sim.base_url
    with pytest.raises(TwilioRestException) as refused:
        wrong.messages.create(to=GH, from_="LightWay", body=CODE_TEXT)
    assert (refused.value.status, refused.value.code) == (401, 20003)


# --- the platform's adapters -----------------------------------------------------------------


def test_africastalking_adapter_result_with_cost_and_sender_per_country(sim):
    gateway = _at(sim)
    result = gateway.send(to=UG, text=CODE_TEXT, reference="d-1", country="UG")
    assert result.provider == "africastalking" and result.status == "sent"
    assert result.provider_id.startswith("ATXid_")
    assert (result.cost_micros, result.cost_currency) == (25_000_000, "UGX")
    assert sim.messages(to=UG)[0].sender == "LIGHTWAY"
    gateway.send(to=GH, text=CODE_TEXT, reference="d-2", country="GH")
    assert sim.messages(to=GH)[0].sender == "LightWay"  # the default sender id


@pytest.mark.parametrize(
    ("status_code", "error", "code", "recipient_fault"),
    [
        (403, NotifyPermanentError, "invalid_number", True),
        (406, NotifyPermanentError, "blacklisted", True),
        (405, NotifyTemporaryError, "insufficient_balance", False),
        (407, NotifyTemporaryError, "could_not_route", False),
        (501, NotifyTemporaryError, "gateway_error", False),
        (402, NotifyPermanentError, "invalid_sender_id", False),
    ],
)
def test_africastalking_adapter_maps_each_status_code(
    sim, status_code, error, code, recipient_fault
):
    sim.set_faults(at_errors=1, at_status_code=status_code)
    with pytest.raises(error) as refused:
        _at(sim).send(to=UG, text=CODE_TEXT, reference="d", country="UG")
    assert refused.value.code == code and refused.value.unsent
    assert refused.value.recipient_fault is recipient_fault
    assert type(refused.value) is error


def test_africastalking_adapter_http_errors_and_timeouts(sim):
    with pytest.raises(NotifyPermanentError) as key:
        _at(sim, api_key="wrong").send(to=UG, text=CODE_TEXT, reference="d")
    assert key.value.code == "unauthorized" and key.value.unsent
    sim.set_faults(sms_errors=1, sms_status=503)
    with pytest.raises(NotifyTemporaryError) as down:
        _at(sim).send(to=UG, text=CODE_TEXT, reference="d")
    assert down.value.unsent
    sim.set_faults(sms_delay_ms=600)
    with pytest.raises(NotifyTemporaryError) as slow:
        _at(sim, timeout_seconds=0.2).send(to=UG, text=CODE_TEXT, reference="d")
    # a timeout: the provider may have sent it; the code must not go out twice elsewhere
    assert slow.value.code == "timeout" and not slow.value.unsent
    # ...and it did: the late answer's message lands (wait, so it cannot take a fault that
    # the next test sets)
    deadline = time.monotonic() + 5
    while not sim.messages(to=UG) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sim.messages(to=UG)) == 1


def test_adapters_refuse_missing_or_unsafe_configuration(sim):
    with pytest.raises(NotifyNotConfigured):
        AfricasTalkingSmsGateway(base_url=sim.base_url, username="", api_key="k")
    with pytest.raises(NotifyNotConfigured, match="https"):
        AfricasTalkingSmsGateway(
            base_url="http://api.africastalking.com", username="u", api_key="k"
        )
    with pytest.raises(NotifyNotConfigured, match="AC"):
        TwilioSmsGateway(base_url=sim.base_url, account_sid="x", auth_token="t", senders={})
    with pytest.raises(NotifyNotConfigured, match="TWILIO_SENDERS"):
        TwilioSmsGateway(base_url=sim.base_url, account_sid=DEMO_TWILIO_ACCOUNT_SID, auth_token="t")


def test_unreachable_provider_is_provably_unsent():
    gateway = AfricasTalkingSmsGateway(
        base_url="http://127.0.0.1:9", username="u", api_key="k", timeout_seconds=1
    )
    with pytest.raises(NotifyTemporaryError) as refused:
        gateway.send(to=UG, text=CODE_TEXT, reference="d")
    assert refused.value.unsent and refused.value.code == "unreachable"


def test_twilio_adapter_result_and_errors(sim):
    result = _twilio(sim).send(to=GH, text=CODE_TEXT, reference="d", country="GH")
    assert result.provider == "twilio" and result.provider_id.startswith("SM")
    assert (result.status, result.cost_micros, result.cost_currency) == ("queued", 75_000, "USD")
    with pytest.raises(NotifyPermanentError) as invalid:
        _twilio(sim).send(to="+2330", text=CODE_TEXT, reference="d")
    assert invalid.value.code == "invalid_number" and invalid.value.recipient_fault
    sim.set_faults(twilio_errors=1, twilio_error_code=21612)
    with pytest.raises(NotifyTemporaryError) as route:
        _twilio(sim).send(to=GH, text=CODE_TEXT, reference="d")
    assert route.value.code == "could_not_route" and route.value.unsent
    with pytest.raises(NotifyPermanentError) as auth:
        _twilio(sim, auth_token="wrong").send(to=GH, text=CODE_TEXT, reference="d")
    assert auth.value.code == "unauthorized" and auth.value.unsent


def test_cost_parsing():
    assert cost_parse("UGX 25.0000") == (25_000_000, "UGX")
    assert cost_parse("KES 0.8000") == (800_000, "KES")
    assert cost_parse("0") == (None, "")
    assert cost_parse(None) == (None, "")


# --- delivery reports --------------------------------------------------------------------


def test_africastalking_reports_go_to_the_account_callback(sim, receiver):
    sim.configure(at_callback_url=receiver.url + "/at")
    result = _at(sim).send(to=UG, text=CODE_TEXT, reference="d", country="UG")
    reports = receiver.wait(2)
    assert [form["status"] for _p, form, _h in reports] == ["Sent", "Success"]
    for path, form, _headers in reports:
        assert path == "/at" and form["id"] == result.provider_id
        assert (form["phoneNumber"], form["networkCode"], form["retryCount"]) == (
            UG,
            "64110",
            "0",
        )


def test_report_knobs_fail_duplicate_reverse_and_lose(sim, receiver):
    sim.configure(at_callback_url=receiver.url + "/at")
    sim.set_faults(dlr_fail=1, dlr_delay_ms=20)
    _at(sim).send(to=UG, text=CODE_TEXT, reference="d")
    reports = receiver.wait(2)
    assert [f["status"] for _p, f, _h in reports] == ["Sent", "Failed"]
    assert reports[1][1]["failureReason"] == "DeliveryFailure"

    receiver.received.clear()
    sim.set_faults(dlr_duplicate=1, dlr_reverse=1, dlr_delay_ms=20)
    _at(sim).send(to=UG, text=CODE_TEXT, reference="d")
    reports = receiver.wait(4)
    assert [f["status"] for _p, f, _h in reports] == ["Success", "Success", "Sent", "Sent"]

    receiver.received.clear()
    sim.set_faults(dlr_lose=1, dlr_delay_ms=20)
    _at(sim).send(to=UG, text=CODE_TEXT, reference="d")
    time.sleep(0.3)
    assert receiver.received == []


def test_twilio_failed_report_carries_the_error_code(sim, receiver):
    sim.set_faults(dlr_fail=1, dlr_delay_ms=20)
    gateway = _twilio(sim, status_callback=receiver.url + "/tw")
    result = gateway.send(to=GH, text=CODE_TEXT, reference="d")
    reports = receiver.wait(2)
    final = reports[-1][1]
    assert final["MessageSid"] == result.provider_id
    assert (final["MessageStatus"], final["ErrorCode"]) == ("undelivered", "30003")


def test_twilio_signature_matches_the_library_and_refuses_tampering():
    url = "https://lightway.example/webhooks/sms/twilio"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": GH}
    signature = twilio_signature("token", url, params)
    assert RequestValidator("token").validate(url, params, signature)
    assert signature_valid("token", url, params, signature)
    assert not signature_valid("token", url, {**params, "MessageStatus": "failed"}, signature)
    assert not signature_valid("other", url, params, signature)
    assert not signature_valid("token", url + "?x=1", params, signature)
    assert not signature_valid("token", url, params, "")


def test_simulator_config_and_faults_over_http(sim, receiver):
    answer = httpx.post(sim.base_url + "/_sim/config", json={"at_callback_url": "nope"})
    assert answer.status_code == 400
    answer = httpx.post(sim.base_url + "/_sim/config", json={"at_callback_url": receiver.url})
    assert answer.status_code == 200
    faults = httpx.post(sim.base_url + "/_sim/faults", json={"dlr_delay_ms": 10}).json()
    assert faults["dlr_delay_ms"] == 10 and faults["sms_errors"] == 0
    _at(sim).send(to=UG, text=CODE_TEXT, reference="d")
    receiver.wait(2)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        listed = httpx.get(sim.base_url + "/_sim/reports").json()
        if len(listed["reports"]) == 2:
            break
        time.sleep(0.05)
    assert [r["status"] for r in listed["reports"]] == [200, 200]


def test_a_report_the_platform_did_not_take_is_posted_again(sim):
    """As the providers do: no 2xx answer → the report comes again, Africa's Talking's
    retryCount counting up."""
    seen: list[dict[str, str]] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append(dict(parse_qsl(self.rfile.read(length).decode())))
            self.send_response(503 if len(seen) == 1 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sim.configure(at_callback_url=f"http://127.0.0.1:{server.server_address[1]}/at")
        sim.set_faults(dlr_delay_ms=10)
        _at(sim).send(to=UG, text=CODE_TEXT, reference="d")
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(f["status"], f["retryCount"]) for f in seen] == [
            ("Sent", "0"),
            ("Success", "0"),
            ("Sent", "1"),
        ]
    finally:
        server.shutdown()
        server.server_close()
