"""The Sumsub client against the Sumsub simulator, over real HTTP (no database)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from lightway.integration.sumsub.client import InsecureSumsubUrl, SumsubClient, is_loopback_url
from lightway.integration.sumsub.port import (
    NewApplicant,
    SumsubConflict,
    SumsubError,
    SumsubNotFound,
    SumsubRateLimited,
    SumsubUnauthorized,
    SumsubUnavailable,
)
from lightway.integration.sumsub.signing import payload_digest_valid, request_signature
from lightway.integration.sumsub.simulator import (
    DEFAULT_APP_TOKEN,
    DEFAULT_LEVEL,
    DEFAULT_SECRET_KEY,
    SumsubSimulator,
)

SPECIAL_LEVEL = "kyc level+1@lightway"
WEBHOOK_SECRET = "test-webhook-secret"


class Receiver:
    """A minimal webhook endpoint: records (headers, body) and answers a scripted status."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(body) for _h, body in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def sim(receiver):
    simulator = SumsubSimulator(
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        levels=(DEFAULT_LEVEL, SPECIAL_LEVEL),
    ).start()
    simulator.configure(webhook_retry_schedule=[0.05, 0.1, 0.2, 0.4])
    yield simulator
    simulator.stop()


@pytest.fixture
def client(sim):
    c = SumsubClient(
        base_url=sim.base_url,
        app_token=DEFAULT_APP_TOKEN,
        secret_key=DEFAULT_SECRET_KEY,
        sleep=lambda s: time.sleep(min(s, 0.05)),
    )
    yield c
    c.close()


def new(external: str, level: str = DEFAULT_LEVEL, **kw) -> NewApplicant:
    return NewApplicant(external_user_id=external, level_name=level, **kw)


def test_create_read_status(client, sim):
    applicant = client.applicant_create(
        applicant=new("sub_one", phone="+256700000001", email="one@example.test")
    )
    assert len(applicant.id) == 24 and int(applicant.id, 16) >= 0
    assert applicant.external_user_id == "sub_one"
    assert applicant.review.review_status == "init"
    assert applicant.level_name == DEFAULT_LEVEL
    # the simulator received the body as the client signed it
    assert sim.applicants[applicant.id].phone == "+256700000001"
    assert client.applicant_get(applicant_id=applicant.id).id == applicant.id
    assert client.applicant_find(external_user_id="sub_one").id == applicant.id
    assert client.applicant_status(applicant_id=applicant.id).review_status == "init"
    with pytest.raises(SumsubNotFound) as exc:
        client.applicant_status(applicant_id="0" * 24)
    assert exc.value.status == 404 and exc.value.correlation_id


def test_duplicate_external_user_id_returns_the_existing_applicant(client, sim):
    first = client.applicant_create(applicant=new("sub_dup"))
    second = client.applicant_create(applicant=new("sub_dup"))
    assert second.id == first.id
    assert len(sim.applicants) == 1
    # the wire answer is the documented 409 text, which the typed error carries
    with pytest.raises(SumsubConflict) as exc:
        client.request(
            "POST",
            "/resources/applicants",
            params={"levelName": DEFAULT_LEVEL},
            json_body={"externalUserId": "sub_dup"},
        )
    assert exc.value.status == 409
    assert exc.value.existing_applicant_id == first.id
    assert f"Applicant with external user id 'sub_dup' already exists: {first.id}" in str(
        exc.value.description
    )
    assert [m for m, t in sim.requests if "externalUserId=" in t] == ["GET"]


def test_sdk_access_token(client, sim):
    token = client.access_token_sdk(external_user_id="sub_tok", level_name=DEFAULT_LEVEL)
    assert token.token.startswith("_act-") and token.user_id == "sub_tok"
    assert client.websdk_url(token=token.token) == f"{sim.base_url}/websdk/?token={token.token}"
    with pytest.raises(SumsubNotFound):
        client.access_token_sdk(external_user_id="sub_tok", level_name="Basic-KYC-Level")


def test_test_completed_and_reset(client, sim, receiver):
    applicant = client.applicant_create(applicant=new("sub_tc"))
    client.applicant_test_completed(
        applicant_id=applicant.id,
        review_answer="RED",
        reject_labels=["UNSATISFACTORY_PHOTOS"],
        reject_type="RETRY",
        moderation_comment="Please retake the photo.",
        client_comment="internal",
    )
    review = client.applicant_status(applicant_id=applicant.id)
    assert (review.review_status, review.review_answer, review.reject_type) == (
        "completed",
        "RED",
        "RETRY",
    )
    assert review.reject_labels == ("UNSATISFACTORY_PHOTOS",)
    assert review.moderation_comment == "Please retake the photo."
    client.applicant_reset(applicant_id=applicant.id)
    review = client.applicant_status(applicant_id=applicant.id)
    assert review.review_status == "init" and review.review_answer is None
    client.applicant_test_completed(applicant_id=applicant.id, review_answer="GREEN")
    assert client.applicant_status(applicant_id=applicant.id).review_answer == "GREEN"
    with pytest.raises(SumsubError) as exc:
        client.applicant_test_completed(applicant_id=applicant.id, review_answer="YELLOW")
    assert exc.value.status == 400
    sim.wait_deliveries(4)
    assert [e["type"] for e in receiver.events()] == [
        "applicantCreated",
        "applicantReviewed",
        "applicantReset",
        "applicantReviewed",
    ]


def test_test_completed_needs_a_sandbox_token(sim):
    sim.secrets["prd:production-token"] = "prod-secret"
    prod = SumsubClient(
        base_url=sim.base_url, app_token="prd:production-token", secret_key="prod-secret"
    )
    applicant = prod.applicant_create(applicant=new("sub_prod"))
    with pytest.raises(SumsubError) as exc:
        prod.applicant_test_completed(applicant_id=applicant.id, review_answer="GREEN")
    assert exc.value.status == 403


def test_wrong_secret_is_a_typed_signature_error(sim):
    bad = SumsubClient(base_url=sim.base_url, app_token=DEFAULT_APP_TOKEN, secret_key="wrong")
    with pytest.raises(SumsubUnauthorized) as exc:
        bad.applicant_create(applicant=new("sub_bad"))
    error = exc.value
    assert (error.status, error.code, error.error_name) == (
        401,
        4003,
        "app-token-signature mismatch",
    )
    assert error.description == "Request signature mismatch"
    assert len(error.correlation_id or "") == 32
    assert sim.applicants == {}


def test_unknown_token_and_missing_headers_are_401(sim):
    unknown = SumsubClient(base_url=sim.base_url, app_token="sbx:nobody", secret_key="x")
    with pytest.raises(SumsubUnauthorized):
        unknown.applicant_find(external_user_id="x")
    response = httpx.get(f"{sim.base_url}/resources/applicants/-/levels")
    assert response.status_code == 401
    assert set(response.json()) >= {"description", "code", "correlationId"}


@pytest.mark.parametrize("skew", [-61, 61, -3600])
def test_stale_timestamp_is_refused(sim, skew):
    skewed = SumsubClient(
        base_url=sim.base_url,
        app_token=DEFAULT_APP_TOKEN,
        secret_key=DEFAULT_SECRET_KEY,
        clock=lambda: time.time() + skew,
    )
    with pytest.raises(SumsubUnauthorized) as exc:
        skewed.applicant_create(applicant=new("sub_stale"))
    assert (exc.value.status, exc.value.code) == (401, 4003)


def test_timestamp_within_a_minute_is_accepted(sim):
    skewed = SumsubClient(
        base_url=sim.base_url,
        app_token=DEFAULT_APP_TOKEN,
        secret_key=DEFAULT_SECRET_KEY,
        clock=lambda: time.time() - 50,
    )
    assert skewed.applicant_create(applicant=new("sub_skew")).id


def test_signature_must_cover_the_query_and_body_as_sent(sim):
    ts = str(int(time.time()))
    body = b'{"externalUserId":"sub_raw"}'
    target = "/resources/applicants?levelName=basic-kyc-level"
    sig = request_signature(
        secret_key=DEFAULT_SECRET_KEY, ts=ts, method="POST", path_with_query=target, body=body
    )
    headers = {
        "X-App-Token": DEFAULT_APP_TOKEN,
        "X-App-Access-Ts": ts,
        "X-App-Access-Sig": sig,
        "Content-Type": "application/json",
    }
    # signed over one body, sent with another (re-serialised JSON)
    reserialised = b'{"externalUserId": "sub_raw"}'
    response = httpx.post(sim.base_url + target, content=reserialised, headers=headers)
    assert response.status_code == 401 and response.json()["errorCode"] == 4003
    # signed without the query string
    response = httpx.post(
        sim.base_url + target + "&x=1", content=body, headers=headers
    )  # query differs
    assert response.status_code == 401
    response = httpx.post(sim.base_url + target, content=body, headers=headers)
    assert response.status_code == 200, response.text


def test_special_characters_in_query_and_path(client, sim):
    external = "sub_ä+b c/d@e%f"
    applicant = client.applicant_create(applicant=new(external, level=SPECIAL_LEVEL))
    assert applicant.level_name == SPECIAL_LEVEL
    assert sim.applicants[applicant.id].external_user_id == external
    assert client.applicant_find(external_user_id=external).id == applicant.id
    token = client.access_token_sdk(external_user_id=external, level_name=SPECIAL_LEVEL)
    assert token.user_id == external
    # legacy token call: everything in the signed query string
    data = client.request(
        "POST",
        "/resources/accessTokens",
        params={"userId": "user+42", "levelName": SPECIAL_LEVEL, "ttlInSecs": "600"},
    )
    assert data["userId"] == "user+42" and data["token"].startswith("_act-")
    sent = next(t for m, t in sim.requests if t.startswith("/resources/accessTokens?"))
    assert "user%2B42" in sent and "%40" in sent


def test_rate_limit_is_typed_and_retried(sim):
    sim.configure(rate_limit_get=2, rate_limit_window_seconds=1.0)
    impatient = SumsubClient(
        base_url=sim.base_url,
        app_token=DEFAULT_APP_TOKEN,
        secret_key=DEFAULT_SECRET_KEY,
        rate_limit_retries=0,
    )
    for _ in range(2):
        with pytest.raises(SumsubNotFound):
            impatient.applicant_status(applicant_id="0" * 24)
    with pytest.raises(SumsubRateLimited) as exc:
        impatient.applicant_status(applicant_id="0" * 24)
    assert exc.value.status == 429 and exc.value.retry_after >= 1
    slept: list[float] = []
    patient = SumsubClient(
        base_url=sim.base_url,
        app_token=DEFAULT_APP_TOKEN,
        secret_key=DEFAULT_SECRET_KEY,
        rate_limit_retries=3,
        sleep=lambda s: (slept.append(s), time.sleep(s)),
    )
    with pytest.raises(SumsubNotFound):  # got through after backing off
        patient.applicant_status(applicant_id="0" * 24)
    assert slept and slept[0] >= 1


def test_server_errors_and_unreachable_are_unavailable(sim, client):
    sim.configure(fail_next=1)
    with pytest.raises(SumsubUnavailable) as exc:
        client.applicant_find(external_user_id="x")
    assert exc.value.status == 500
    sim.stop()
    with pytest.raises(SumsubUnavailable) as exc:
        client.applicant_find(external_user_id="x")
    assert exc.value.status == 0


def test_https_required_except_loopback():
    for url in ("http://api.sumsub.com", "http://10.0.0.5:8092", "ftp://localhost"):
        with pytest.raises(InsecureSumsubUrl):
            SumsubClient(base_url=url, app_token="a", secret_key="b")
    for url in (
        "https://api.sumsub.com",
        "http://127.0.0.1:1",
        "http://localhost:1",
        "http://[::1]:1",
    ):
        SumsubClient(base_url=url, app_token="a", secret_key="b").close()
    assert is_loopback_url("http://127.5.0.1/") and not is_loopback_url("https://api.sumsub.com")
    real = SumsubClient(base_url="https://api.sumsub.com", app_token="a", secret_key="b")
    assert real.websdk_url(token="_act-x") is None


# --- the simulator's webhooks ------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HMAC_SHA1_HEX", "HMAC_SHA256_HEX", "HMAC_SHA512_HEX"])
def test_webhooks_are_signed_with_the_configured_algorithm(client, sim, receiver, alg):
    sim.configure(webhook_alg=alg)
    applicant = client.applicant_create(applicant=new(f"sub_{alg}", phone="+256700000009"))
    sim.wait_deliveries(1)
    headers, body = receiver.received[0]
    assert headers["x-payload-digest-alg"] == alg
    assert payload_digest_valid(
        secret=WEBHOOK_SECRET, body=body, alg=alg, digest=headers["x-payload-digest"]
    )
    event = json.loads(body)
    assert event["type"] == "applicantCreated" and event["applicantId"] == applicant.id
    assert event["externalUserId"] == f"sub_{alg}" and event["sandboxMode"] is True
    assert "phone" not in body.decode() and "+256700000009" not in body.decode()


def test_webhook_retries_after_failures_and_lost_deliveries(client, sim, receiver):
    receiver.answers = [500, 503]
    sim.configure(webhook_drop_first=1)
    client.applicant_create(applicant=new("sub_retry"))
    done = sim.wait_deliveries(1)
    attempts = [d["status"] for d in sim.deliveries]
    assert attempts == ["dropped", 500, 503, 200]
    assert done[0]["attempt"] == 4
    assert len(receiver.received) == 3  # the dropped one never arrived


def test_webhook_duplicate_and_reorder_knobs(client, sim, receiver):
    sim.configure(webhook_duplicate=True)
    applicant = client.applicant_create(applicant=new("sub_knobs"))
    sim.wait_deliveries(2)
    assert receiver.received[0][1] == receiver.received[1][1]
    sim.configure(webhook_duplicate=False, webhook_reorder=True)
    client.applicant_test_completed(applicant_id=applicant.id, review_answer="GREEN")
    client.applicant_reset(applicant_id=applicant.id)
    sim.wait_deliveries(4)
    later = receiver.events()[2:]
    assert [e["type"] for e in later] == ["applicantReset", "applicantReviewed"]
    assert later[0]["createdAtMs"] > later[1]["createdAtMs"]


def test_webhook_delay_knob(client, sim, receiver):
    sim.configure(webhook_delay_seconds=0.4)
    started = time.monotonic()
    client.applicant_create(applicant=new("sub_delay"))
    sim.wait_deliveries(1)
    assert time.monotonic() - started >= 0.4


def test_sim_config_endpoint(sim):
    response = httpx.post(f"{sim.base_url}/_sim/config", json={"webhook_alg": "HMAC_SHA1_HEX"})
    assert response.status_code == 200 and response.json()["webhook_alg"] == "HMAC_SHA1_HEX"
    assert sim.config.webhook_alg == "HMAC_SHA1_HEX"
    for bad in ({"webhook_alg": "MD5"}, {"nope": 1}, {"webhook_duplicate": "yes"}):
        response = httpx.post(f"{sim.base_url}/_sim/config", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["code"] == 400


def test_websdk_page_upload_and_sandbox_decision(client, sim, receiver):
    token = client.access_token_sdk(external_user_id="sub_web", level_name=DEFAULT_LEVEL).token
    page = httpx.get(client.websdk_url(token=token))
    assert page.status_code == 200 and "Submit document" in page.text
    applicant = client.applicant_find(external_user_id="sub_web")  # created by the "SDK"
    # a decision before any upload is refused
    response = httpx.post(
        f"{sim.base_url}/websdk/decide", data={"token": token, "decision": "GREEN"}
    )
    assert response.status_code == 409
    response = httpx.post(
        f"{sim.base_url}/websdk/submit",
        data={"token": token, "idDocType": "PASSPORT", "country": "UGA", "number": "A123"},
    )
    assert response.status_code == 303
    assert client.applicant_status(applicant_id=applicant.id).review_status == "pending"
    page = httpx.get(client.websdk_url(token=token))
    assert "Approve" in page.text and "Reject (retry)" in page.text
    response = httpx.post(
        f"{sim.base_url}/websdk/decide", data={"token": token, "decision": "RETRY"}
    )
    assert response.status_code == 303
    review = client.applicant_status(applicant_id=applicant.id)
    assert (review.review_answer, review.reject_type) == ("RED", "RETRY")
    page = httpx.get(client.websdk_url(token=token))
    assert "resubmission requested" in page.text and "Submit document" in page.text
    httpx.post(
        f"{sim.base_url}/websdk/submit",
        data={"token": token, "idDocType": "ID_CARD", "country": "GHA", "number": "B9"},
    )
    httpx.post(f"{sim.base_url}/websdk/decide", data={"token": token, "decision": "FINAL"})
    review = client.applicant_status(applicant_id=applicant.id)
    assert (review.review_answer, review.reject_type) == ("RED", "FINAL")
    assert "could not be verified" in httpx.get(client.websdk_url(token=token)).text
    sim.wait_deliveries(7)
    assert [e["type"] for e in receiver.events()] == [
        "applicantCreated",
        "applicantPending",
        "applicantPrechecked",
        "applicantReviewed",
        "applicantPending",
        "applicantPrechecked",
        "applicantReviewed",
    ]
    # no document number or other personal data in any webhook
    assert all(b"A123" not in body and b'B9"' not in body for _h, body in receiver.received)
    assert httpx.get(f"{sim.base_url}/websdk/?token=_act-unknown").status_code == 401


def test_request_check_needs_documents_and_blocks_uploads(client, sim):
    applicant = client.applicant_create(applicant=new("sub_docs"))
    with pytest.raises(SumsubConflict):
        client.applicant_request_check(applicant_id=applicant.id)
    files = {
        "metadata": (None, json.dumps({"idDocType": "PASSPORT", "country": "UGA"})),
        "content": ("front.jpg", b"\xff\xd8\xff fake jpeg", "image/jpeg"),
    }
    request = httpx.Request(
        "POST", f"{sim.base_url}/resources/applicants/{applicant.id}/info/idDoc", files=files
    )
    body = request.read()
    ts = str(int(time.time()))
    request.headers["X-App-Token"] = DEFAULT_APP_TOKEN
    request.headers["X-App-Access-Ts"] = ts
    request.headers["X-App-Access-Sig"] = request_signature(
        secret_key=DEFAULT_SECRET_KEY,
        ts=ts,
        method="POST",
        path_with_query=request.url.raw_path,
        body=body,
    )
    with httpx.Client() as http:
        response = http.send(request)
    assert response.status_code == 200, response.text
    assert response.headers["X-Image-Id"] and response.json()["idDocType"] == "PASSPORT"
    client.applicant_request_check(applicant_id=applicant.id)
    with pytest.raises(SumsubConflict):  # already pending
        client.applicant_request_check(applicant_id=applicant.id)
    with pytest.raises(SumsubConflict):  # no reset while being checked
        client.applicant_reset(applicant_id=applicant.id)


def test_websdk_link(client, sim):
    url = client.websdk_link(
        external_user_id="sub_link", level_name=SPECIAL_LEVEL, ttl_seconds=300, lang="fr"
    )
    assert url.startswith(f"{sim.base_url}/websdk/?token=_act-")
    page = httpx.get(url)
    assert page.status_code == 200 and "Submit document" in page.text
    assert client.applicant_find(external_user_id="sub_link").level_name == SPECIAL_LEVEL


def test_simulator_command_line():
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lightway.integration.sumsub.simulator",
            "--port",
            "0",
            "--webhook-alg",
            "HMAC_SHA1_HEX",
            "--workflow-level",
            "flow-level",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Sumsub simulator on http://127.0.0.1:"), line
        base_url = line.split()[3]
        cli_client = SumsubClient(
            base_url=base_url, app_token=DEFAULT_APP_TOKEN, secret_key=DEFAULT_SECRET_KEY
        )
        assert cli_client.request("GET", "/resources/status/api") == {"ok": 1}
        assert httpx.get(f"{base_url}/_sim/config").json()["webhook_alg"] == "HMAC_SHA1_HEX"
        levels = httpx.post(f"{base_url}/_sim/levels", json={"name": "extra-level"}).json()
        assert levels["workflowLevels"] == ["flow-level"]
        assert set(levels["levels"]) >= {"flow-level", "extra-level"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# --- issue 15 item 5: the current WebSDK link form, sandboxMode, the review events ---------


def signed_post(sim, path: str, body: bytes, content_type: str = "application/json"):
    """A request signed by hand, as a third-party client (sumsub-node-sdk) sends it."""
    ts = str(int(time.time()))
    return httpx.post(
        f"{sim.base_url}{path}",
        content=body,
        headers={
            "Content-Type": content_type,
            "X-App-Token": DEFAULT_APP_TOKEN,
            "X-App-Access-Ts": ts,
            "X-App-Access-Sig": request_signature(
                secret_key=DEFAULT_SECRET_KEY,
                ts=ts,
                method="POST",
                path_with_query=path.encode(),
                body=body,
            ),
        },
    )


def test_client_asks_for_the_websdk_link_in_the_documented_form(client, sim):
    """Regression: the client used the older form (level in the path, user in the query);
    Sumsub documents ``levels/-/websdkLink`` with a JSON body today."""
    client.websdk_link(external_user_id="sub_form", level_name=SPECIAL_LEVEL, ttl_seconds=90)
    method, target = sim.requests[-1]
    assert (method, target) == ("POST", "/resources/sdkIntegrations/levels/-/websdkLink?lang=en")
    token = next(t for t in sim.tokens.values() if t.user_id == "sub_form")
    assert token.level_name == SPECIAL_LEVEL
    assert 80 <= token.expires - time.time() <= 90


def test_websdk_link_json_form_as_a_third_party_client_sends_it(sim):
    body = json.dumps(
        {
            "levelName": DEFAULT_LEVEL,
            "userId": "sub_node",
            "applicantIdentifiers": {"email": "node@example.test", "phone": "+256700000777"},
            "ttlInSecs": 1800,
            "redirect": {"successUrl": "https://example.test/ok"},
        }
    ).encode()
    path = "/resources/sdkIntegrations/levels/-/websdkLink?lang=en"
    response = signed_post(sim, path, body)
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert url.startswith(f"{sim.base_url}/websdk/?token=_act-")
    page = httpx.get(url)
    assert page.status_code == 200 and "Submit document" in page.text
    applicant = sim.applicant_by_external("sub_node")  # the WebSDK made it, with identifiers
    assert applicant is not None and applicant.level_name == DEFAULT_LEVEL
    assert (applicant.email, applicant.phone) == ("node@example.test", "+256700000777")


def test_websdk_link_json_form_with_external_user_id(sim):
    body = b'{"levelName": "basic-kyc-level", "externalUserId": "sub_ext"}'
    response = signed_post(sim, "/resources/sdkIntegrations/levels/-/websdkLink", body)
    assert response.status_code == 200, response.text
    assert httpx.get(response.json()["url"]).status_code == 200
    assert sim.applicant_by_external("sub_ext") is not None


def test_websdk_link_older_form_still_served(client, sim):
    level = SPECIAL_LEVEL.replace(" ", "%20").replace("+", "%2B").replace("@", "%40")
    data = client.request(
        "POST",
        f"/resources/sdkIntegrations/levels/{level}/websdkLink",
        params={"externalUserId": "sub_old", "ttlInSecs": "60"},
    )
    assert httpx.get(data["url"]).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b'{"userId": "u"}', "application/json", 400, "levelName is required"),
        (b'{"levelName": "nope", "userId": "u"}', "application/json", 404, "not found"),
        (b'{"levelName": "basic-kyc-level"}', "application/json", 400, "userId is required"),
        (
            b'{"levelName": "basic-kyc-level", "userId": "u", "applicantIdentifiers": ["x"]}',
            "application/json",
            400,
            "applicantIdentifiers",
        ),
        (
            b'{"levelName": "basic-kyc-level", "userId": "u", "ttlInSecs": "long"}',
            "application/json",
            400,
            "ttlInSecs",
        ),
        (b"{not json", "application/json", 400, ""),
        (b"levelName=basic-kyc-level", "application/x-www-form-urlencoded", 415, "JSON"),
    ],
)
def test_websdk_link_json_form_bad_input(sim, body, content_type, status, message):
    response = signed_post(
        sim, "/resources/sdkIntegrations/levels/-/websdkLink", body, content_type
    )
    assert response.status_code == status
    error = response.json()
    assert error["code"] == status and message.lower() in error["description"].lower()


def test_sandbox_mode_follows_the_app_token(receiver):
    """``sandboxMode`` is true for applicants of a sandbox (``sbx:``) token only."""
    production = SumsubSimulator(
        app_token="prd:lightway-test-token",
        secret_key="prd-test-secret",
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
    ).start()
    sandbox = SumsubSimulator(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET).start()
    try:
        for sim, token, secret in (
            (production, "prd:lightway-test-token", "prd-test-secret"),
            (sandbox, DEFAULT_APP_TOKEN, DEFAULT_SECRET_KEY),
        ):
            c = SumsubClient(base_url=sim.base_url, app_token=token, secret_key=secret)
            c.applicant_create(applicant=new(f"sub_{token[:3]}"))
            # the WebSDK makes the applicant for a token's user: same environment
            sdk = c.access_token_sdk(external_user_id=f"sdk_{token[:3]}", level_name=DEFAULT_LEVEL)
            assert httpx.get(c.websdk_url(token=sdk.token)).status_code == 200
            c.close()
        production.wait_deliveries(2)
        sandbox.wait_deliveries(2)
        assert [e["sandboxMode"] for e in production.events] == [False, False]
        assert [e["sandboxMode"] for e in sandbox.events] == [True, True]
        assert sorted(e["sandboxMode"] for e in receiver.events()) == [False, False, True, True]
    finally:
        production.stop()
        sandbox.stop()


def submitted(client, sim, external: str, level: str = DEFAULT_LEVEL):
    applicant = client.applicant_create(applicant=new(external, level))
    sim.doc_add(sim.applicants[applicant.id], {"idDocType": "PASSPORT", "country": "GHA"})
    client.applicant_request_check(applicant_id=applicant.id)
    return applicant


def test_review_runs_through_prechecked_and_on_hold(client, sim, receiver):
    applicant = submitted(client, sim, "sub_states")
    assert client.applicant_status(applicant_id=applicant.id).review_status == "pending"
    base = f"{sim.base_url}/_sim/applicants/{applicant.id}"
    response = httpx.post(f"{base}/precheck")
    assert response.status_code == 200 and response.json()["reviewStatus"] == "prechecked"
    assert httpx.post(f"{base}/precheck").status_code == 409  # only from pending
    response = httpx.post(f"{base}/hold")
    assert response.status_code == 200 and response.json()["reviewStatus"] == "onHold"
    assert client.applicant_status(applicant_id=applicant.id).review_status == "onHold"
    with pytest.raises(SumsubConflict):  # no reset while on hold
        client.applicant_reset(applicant_id=applicant.id)
    client.applicant_test_completed(
        applicant_id=applicant.id, review_answer="GREEN", reject_labels=[], reject_type=None
    )
    sim.wait_deliveries(5)
    events = receiver.events()
    assert [(e["type"], e["reviewStatus"]) for e in events] == [
        ("applicantCreated", "init"),
        ("applicantPending", "pending"),
        ("applicantPrechecked", "prechecked"),
        ("applicantOnHold", "onHold"),
        ("applicantReviewed", "completed"),
    ]
    assert [("reviewResult" in e) for e in events] == [False, False, False, False, True]
    for headers, body in receiver.received:
        assert payload_digest_valid(
            secret=WEBHOOK_SECRET,
            body=body,
            digest=headers["x-payload-digest"],
            alg=headers["x-payload-digest-alg"],
        )
    assert httpx.post(f"{base}/hold").status_code == 409  # completed: nothing to hold
    assert httpx.post(f"{sim.base_url}/_sim/applicants/{'0' * 24}/hold").status_code == 404


def test_a_decision_on_a_pending_applicant_passes_through_prechecked(client, sim, receiver):
    applicant = submitted(client, sim, "sub_direct")
    client.applicant_test_completed(
        applicant_id=applicant.id,
        review_answer="RED",
        reject_labels=["FORGERY"],
        reject_type="FINAL",
    )
    sim.wait_deliveries(4)
    assert [e["type"] for e in receiver.events()][-3:] == [
        "applicantPending",
        "applicantPrechecked",
        "applicantReviewed",
    ]


def test_workflow_level_completes_the_workflow_after_the_review(receiver):
    sim = SumsubSimulator(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET).start()
    try:
        response = httpx.post(
            f"{sim.base_url}/_sim/levels", json={"name": "flow-level", "workflow": True}
        )
        assert response.status_code == 200 and response.json()["workflowLevels"] == ["flow-level"]
        for bad in ({"name": ""}, {"name": "x", "workflow": "yes"}, {"name": 3}):
            assert httpx.post(f"{sim.base_url}/_sim/levels", json=bad).status_code == 400
        c = SumsubClient(
            base_url=sim.base_url, app_token=DEFAULT_APP_TOKEN, secret_key=DEFAULT_SECRET_KEY
        )
        applicant = submitted(c, sim, "sub_flow", "flow-level")
        c.applicant_test_completed(
            applicant_id=applicant.id,
            review_answer="RED",
            reject_labels=["UNSATISFACTORY_PHOTOS"],
            reject_type="RETRY",
            moderation_comment="Retake the photo.",
        )
        c.close()
        sim.wait_deliveries(5)
        reviewed, completed = receiver.events()[-2:]
        assert (reviewed["type"], completed["type"]) == (
            "applicantReviewed",
            "applicantWorkflowCompleted",
        )
        assert completed["reviewStatus"] == "completed"
        assert completed["levelName"] == "flow-level"
        assert completed["reviewResult"] == reviewed["reviewResult"]
        assert completed["reviewResult"]["reviewRejectType"] == "RETRY"
        assert completed["createdAtMs"] > reviewed["createdAtMs"]
    finally:
        sim.stop()


def test_move_to_level_fires_level_changed(client, sim, receiver):
    applicant = submitted(client, sim, "sub_move")
    path = f"/resources/applicants/{applicant.id}/moveToLevel"
    with pytest.raises(SumsubConflict):  # not while being checked
        client.request("POST", path, params={"name": SPECIAL_LEVEL})
    client.applicant_test_completed(
        applicant_id=applicant.id, review_answer="GREEN", reject_labels=[], reject_type=None
    )
    with pytest.raises(SumsubNotFound):
        client.request("POST", path, params={"name": "no-such-level"})
    moved = client.request("POST", path, params={"name": SPECIAL_LEVEL})
    assert moved["review"]["levelName"] == SPECIAL_LEVEL
    assert moved["review"]["reviewStatus"] == "init" and "reviewResult" not in moved["review"]
    client.request("POST", path, params={"name": SPECIAL_LEVEL})  # same level: no event
    sim.wait_deliveries(5)
    time.sleep(0.2)
    changed = receiver.events()[-1]
    assert [e["type"] for e in receiver.events()].count("applicantLevelChanged") == 1
    assert changed["type"] == "applicantLevelChanged"
    assert (changed["levelName"], changed["previousLevelName"]) == (SPECIAL_LEVEL, DEFAULT_LEVEL)
    assert changed["reviewStatus"] == "init" and "reviewResult" not in changed
    # and the sandbox's own control endpoint does the same
    response = httpx.post(
        f"{sim.base_url}/_sim/applicants/{applicant.id}/level", json={"levelName": DEFAULT_LEVEL}
    )
    assert response.status_code == 200 and response.json()["levelName"] == DEFAULT_LEVEL
    base = f"{sim.base_url}/_sim/applicants/{applicant.id}/level"
    assert httpx.post(base, json={}).status_code == 400
    assert httpx.post(base, json={"levelName": "nope"}).status_code == 404


def test_websdk_page_offers_precheck_and_hold(client, sim):
    sdk = client.access_token_sdk(external_user_id="sub_page", level_name=DEFAULT_LEVEL)
    url = client.websdk_url(token=sdk.token)
    response = httpx.post(
        f"{sim.base_url}/websdk/submit",
        data={"token": sdk.token, "idDocType": "ID_CARD", "country": "GHA", "number": "G1"},
    )
    assert response.status_code == 303
    page = httpx.get(url).text
    for choice in ("Approve", "Reject (retry)", "Reject (final)", "Precheck only", "Put on hold"):
        assert choice in page
    decide = f"{sim.base_url}/websdk/decide"
    assert httpx.post(decide, data={"token": sdk.token, "decision": "HOLD"}).status_code == 303
    page = httpx.get(url).text
    assert "on hold" in page and "Put on hold" not in page and "Approve" in page
    assert httpx.post(decide, data={"token": sdk.token, "decision": "PRECHECK"}).status_code == 409
    assert httpx.post(decide, data={"token": sdk.token, "decision": "MAYBE"}).status_code == 400
    assert sim.applicant_by_external("sub_page").review_status == "onHold"
