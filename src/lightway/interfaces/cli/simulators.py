"""`lightway simulators`: the local stand-ins for every external system, in one process.

Each simulator is a small HTTP server (the notify simulator also speaks SMTP) that behaves
like the real provider. ``lightway up`` runs them as one child process when the provider's
base URL is not configured, and points the web server and worker at them through the
environment; ``lightway simulators`` runs them alone (``--only NAME --port P``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lightway.infrastructure.config import Env
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import note, say

# Seconds the MoMo simulator of `lightway up` / `lightway simulators` takes to complete a
# payment (the customer "approves on the phone"), so the demo's status page shows the
# waiting step. docs/momo.md states it; tests/test_momo_simulator_fixes.py keeps the two equal.
DEMO_COMPLETION_SECONDS = 3.0


@dataclass(frozen=True)
class SimulatorSpec:
    name: str
    port_env: str
    default_port: int
    description: str
    # (host, port, web_base_url) -> started simulator with .base_url and .stop()
    start: Callable[[str, int, str], Any]
    # started simulator -> environment the web server and worker need to use it
    environment: Callable[[Any], dict[str, str]]


def _notify_start(host: str, port: int, web_base: str) -> Any:
    from django.conf import settings

    from lightway.integration.notify.providers_sim import ProviderAccounts
    from lightway.integration.notify.simulator import NotifySimulator

    smtp_port = Env.int("LIGHTWAY_SIM_SMTP_PORT", port + 1 if port else 0)
    token = str(settings.AFRICASTALKING_WEBHOOK_TOKEN)
    callback = f"{web_base}/webhooks/sms/africastalking/{token}" if web_base else ""
    accounts = ProviderAccounts(
        at_username=str(settings.AFRICASTALKING_USERNAME),
        at_api_key=str(settings.AFRICASTALKING_API_KEY),
        at_callback_url=callback,
        twilio_account_sid=str(settings.TWILIO_ACCOUNT_SID),
        twilio_auth_token=str(settings.TWILIO_AUTH_TOKEN),
    )
    simulator = NotifySimulator(host=host, http_port=port, smtp_port=smtp_port, accounts=accounts)
    simulator.web_base = web_base  # for the environment below
    return simulator.start()


def _notify_env(sim: Any) -> dict[str, str]:
    """Both SMS providers at the simulator (Africa's Talking first, Twilio the fallback),
    their delivery reports back to the web server, email to its SMTP sink."""
    web_base = getattr(sim, "web_base", "")
    return {
        "AFRICASTALKING_BASE_URL": sim.base_url,
        "TWILIO_BASE_URL": sim.base_url,
        "TWILIO_STATUS_CALLBACK_URL": f"{web_base}/webhooks/sms/twilio" if web_base else "",
        "LIGHTWAY_SMTP_HOST": "127.0.0.1",
        "LIGHTWAY_SMTP_PORT": str(sim.smtp_port),
    }


def _sumsub_start(host: str, port: int, web_base: str) -> Any:
    from django.conf import settings

    from lightway.integration.sumsub.simulator import SumsubSimulator

    return SumsubSimulator(
        host=host,
        port=port,
        app_token=settings.SUMSUB_APP_TOKEN,
        secret_key=settings.SUMSUB_SECRET_KEY,
        webhook_url=f"{web_base}/webhooks/sumsub" if web_base else None,
        webhook_secret=settings.SUMSUB_WEBHOOK_SECRET,
    ).start()


def _sumsub_env(sim: Any) -> dict[str, str]:
    return {"SUMSUB_BASE_URL": sim.base_url}


def _momo_start(host: str, port: int, web_base: str) -> Any:
    from urllib.parse import urlsplit

    from django.conf import settings

    from lightway.integration.momo.simulator import MomoSimulator

    sim = MomoSimulator(
        host=host,
        port=port,
        subscription_keys={
            "collection": settings.MOMO_SUBSCRIPTION_KEY_COLLECTION,
            "disbursement": settings.MOMO_SUBSCRIPTION_KEY_DISBURSEMENT,
            "remittance": settings.MOMO_SUBSCRIPTION_KEY_REMITTANCE,
        },
    ).start()
    # The customer "approves on the phone" after a few seconds, so the demo's status page
    # shows the waiting step (tests and benchmarks start their own, faster simulator).
    sim.configure(completion_seconds=DEMO_COMPLETION_SECONDS)
    # MoMo calls back only to the API user's providerCallbackHost: the platform's host.
    sim.web_base = web_base
    sim.callback_host = (urlsplit(web_base).hostname if web_base else None) or "127.0.0.1"
    return sim


def _momo_env(sim: Any) -> dict[str, str]:
    """Provision an API user and key over HTTP, exactly as on MTN's sandbox (§3)."""
    import uuid

    import httpx
    from django.conf import settings

    api_user = str(uuid.uuid4())
    key_header = {"Ocp-Apim-Subscription-Key": settings.MOMO_SUBSCRIPTION_KEY_COLLECTION}
    with httpx.Client(base_url=sim.base_url, timeout=10) as http:
        created = http.post(
            "/v1_0/apiuser",
            headers={**key_header, "X-Reference-Id": api_user},
            json={"providerCallbackHost": sim.callback_host},
        )
        if created.status_code != 201:
            raise CommandError(f"the momo simulator refused the API user ({created.status_code})")
        issued = http.post(f"/v1_0/apiuser/{api_user}/apikey", headers=key_header)
        if issued.status_code != 201:
            raise CommandError(f"the momo simulator refused the API key ({issued.status_code})")
    environment = {
        "MOMO_BASE_URL": sim.base_url,
        "MOMO_API_USER": api_user,
        "MOMO_API_KEY": str(issued.json()["apiKey"]),
    }
    if sim.web_base:
        environment["MOMO_CALLBACK_URL"] = f"{sim.web_base}/webhooks/momo"
    return environment


def _ecb_start(host: str, port: int, web_base: str) -> Any:
    from lightway.integration.ratefeed.simulator import EcbSimulator

    return EcbSimulator(host=host, port=port).start()


def _ecb_env(sim: Any) -> dict[str, str]:
    return {"FX_ECB_BASE_URL": sim.base_url}


def _regional_start(host: str, port: int, web_base: str) -> Any:
    from django.conf import settings

    from lightway.integration.ratefeed.simulator import RegionalFeedSimulator

    return RegionalFeedSimulator(
        host=host, port=port, api_key=settings.FX_REGIONAL_FEED_KEY
    ).start()


def _regional_env(sim: Any) -> dict[str, str]:
    return {"FX_REGIONAL_FEED_URL": sim.base_url, "FX_REGIONAL_FEED_KEY": sim.api_key}


def _settlement_start(host: str, port: int, web_base: str) -> Any:
    from django.conf import settings

    from lightway.integration.settlement.simulator import SettlementSimulator

    return SettlementSimulator(
        host=host,
        port=port,
        key_id=settings.SETTLEMENT_KEY_ID,
        secret=settings.SETTLEMENT_SECRET,
        callback_url=f"{web_base}/webhooks/settlement" if web_base else None,
        callback_key_id=settings.SETTLEMENT_CALLBACK_KEY_ID,
        callback_secret=settings.SETTLEMENT_CALLBACK_SECRET,
    ).start()


def _settlement_env(sim: Any) -> dict[str, str]:
    return {"SETTLEMENT_BASE_URL": sim.base_url}


def _webhooks_start(host: str, port: int, web_base: str) -> Any:
    from lightway.integration.webhooks.simulator import WebhookReceiverSimulator

    sim = WebhookReceiverSimulator(host=host, port=port).start()
    _webhooks_register_demo_secrets(sim)
    return sim


def _webhooks_register_demo_secrets(sim: Any) -> None:
    """Let the receiver verify the demo partner's webhooks: register the partner's live
    signing secrets with it (read from the database, where they are sealed). Without a
    database (simulators run alone) it records deliveries unchecked."""
    from django.utils import timezone

    from lightway.application.demo import DEMO_PARTNER
    from lightway.application.partners.webhooks import partner_webhook_signing_secrets

    code = DEMO_PARTNER[0]
    try:
        keys = partner_webhook_signing_secrets(partner_code=code, now=timezone.now())
    except Exception as exc:  # no database, not migrated, keys not configured ...
        note(f"  webhooks: the demo partner's signing secrets are not available ({exc})")
        return
    finally:
        from django.db import connections

        connections.close_all()
    for key_id, secret in keys:
        sim.secret_add(path=sim.hook_path(code), key_id=key_id, secret=secret)


def _webhooks_env(sim: Any) -> dict[str, str]:
    return {}  # partners' webhook URLs are in the database (the demo seed points one here)


SIMULATORS: dict[str, SimulatorSpec] = {
    "notify": SimulatorSpec(
        "notify",
        "LIGHTWAY_SIM_NOTIFY_PORT",
        8101,
        "SMS gateway + SMTP server, inbox at /inbox",
        _notify_start,
        _notify_env,
    ),
    "sumsub": SimulatorSpec(
        "sumsub",
        "LIGHTWAY_SIM_SUMSUB_PORT",
        8103,
        "Sumsub KYC API (sandbox), WebSDK page, webhooks",
        _sumsub_start,
        _sumsub_env,
    ),
    "momo": SimulatorSpec(
        "momo",
        "LIGHTWAY_SIM_MOMO_PORT",
        8104,
        "MTN MoMo Open API (collection, disbursement, remittance, sandbox provisioning)",
        _momo_start,
        _momo_env,
    ),
    "ecb": SimulatorSpec(
        "ecb",
        "LIGHTWAY_SIM_ECB_PORT",
        8111,
        "ECB euro reference rates (eurofxref-daily.xml), knobs at POST /sim/configure",
        _ecb_start,
        _ecb_env,
    ),
    "regional": SimulatorSpec(
        "regional",
        "LIGHTWAY_SIM_REGIONAL_PORT",
        8112,
        "Regional rate feed (UGX, GHS, RWF, ZMW per USD), knobs at POST /sim/configure",
        _regional_start,
        _regional_env,
    ),
    "settlement": SimulatorSpec(
        "settlement",
        "LIGHTWAY_SIM_SETTLEMENT_PORT",
        8105,
        "LightWay Finance Settlement API (instructions, confirmations, camt.054/053)",
        _settlement_start,
        _settlement_env,
    ),
    "webhooks": SimulatorSpec(
        "webhooks",
        "LIGHTWAY_SIM_WEBHOOKS_PORT",
        8113,
        "a partner's webhook endpoint (verifies signatures), inbox at /inbox",
        _webhooks_start,
        _webhooks_env,
    ),
}

# The setting that, when set, means "use the real provider": up then skips the simulator.
PROVIDER_URL_SETTING = {
    "notify": "AFRICASTALKING_BASE_URL|TWILIO_BASE_URL",
    "sumsub": "SUMSUB_BASE_URL",
    "momo": "MOMO_BASE_URL",
    "ecb": "FX_ECB_BASE_URL",
    "regional": "FX_REGIONAL_FEED_URL",
    "settlement": "SETTLEMENT_BASE_URL",
    # The demo partner's webhooks go to the receiver simulator unless this names a real one.
    "webhooks": "LIGHTWAY_DEMO_WEBHOOK_URL",
}


def simulators_select(only: list[str] | None) -> list[SimulatorSpec]:
    names = only or list(SIMULATORS)
    unknown = [n for n in names if n not in SIMULATORS]
    if unknown:
        raise CommandError(
            f"unknown simulator {', '.join(unknown)}; choose from {', '.join(SIMULATORS)}"
        )
    return [SIMULATORS[n] for n in names]


def simulators_run(
    *, only: list[str] | None, host: str, port: int | None, web_base: str, env_file: str | None
) -> int:
    """Start the chosen simulators, print their URLs, wait for Ctrl-C / SIGTERM."""
    specs = simulators_select(only)
    if port is not None and len(specs) != 1:
        raise CommandError("--port needs exactly one simulator (use --only NAME)")
    started: list[tuple[SimulatorSpec, Any]] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for spec in specs:
            chosen = port if port is not None else Env.int(spec.port_env, spec.default_port)
            try:
                sim = spec.start(host, chosen, web_base)
            except OSError as exc:
                raise CommandError(
                    f"cannot start the {spec.name} simulator on {host}:{chosen}"
                    f" ({exc.strerror or exc}); choose another port with {spec.port_env}"
                ) from exc
            started.append((spec, sim))
            # Under `lightway up` (--env-file) the list is progress: up's banner says where
            # to go. Run alone, it is this command's result.
            (note if env_file else say)(f"{spec.name:<10} {sim.base_url}  {spec.description}")
        environment: dict[str, str] = {}
        for spec, sim in started:
            environment.update(spec.environment(sim))
        if env_file:
            with open(env_file, "w", encoding="utf-8") as fh:
                fh.writelines(f"{k}={v}\n" for k, v in environment.items())
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for spec, sim in reversed(started):
            try:
                sim.stop()
            except Exception as exc:  # a simulator that fails to stop must not hide others
                note(f"  {spec.name} simulator did not stop cleanly: {exc}")
    return 0
