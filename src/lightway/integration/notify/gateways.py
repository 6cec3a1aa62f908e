"""The SMS gateways and the email sender the platform uses, chosen by settings.

SMS: Africa's Talking (``AFRICASTALKING_*``) and Twilio (``TWILIO_*``); a provider takes
part once its base URL is set. ``LIGHTWAY_SMS_ROUTES`` lists, per country, the providers to
try in order (``application/notifications/routing.py`` does the trying). Email: the SMTP
server ``LIGHTWAY_SMTP_*``. One HTTP client is kept per configuration, so connections are
reused and tests that change settings get a new one.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from lightway.integration.notify.africastalking import AfricasTalkingSmsGateway
from lightway.integration.notify.email_smtp import SmtpEmailSender
from lightway.integration.notify.port import EmailSender, NotifyNotConfigured, SmsGateway
from lightway.integration.notify.twilio import TwilioSmsGateway

PROVIDERS = ("africastalking", "twilio")


def pairs(raw: str, setting: str) -> dict[str, str]:
    """``"UG=LIGHTWAY;*=LightWay"`` → ``{"UG": "LIGHTWAY", "*": "LightWay"}``."""
    found: dict[str, str] = {}
    for item in raw.split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip().upper(), value.strip()
        if not sep or not value or not (key == "*" or (len(key) == 2 and key.isalpha())):
            raise NotifyNotConfigured(
                f"{setting}: {item.strip()!r} is not COUNTRY=VALUE (a two-letter country or *)",
                code="bad_configuration",
            )
        found[key] = value
    return found


def sms_routes() -> dict[str, list[str]]:
    """``LIGHTWAY_SMS_ROUTES`` parsed: country (or ``*``) → provider names in order."""
    raw = str(getattr(settings, "LIGHTWAY_SMS_ROUTES", "") or "")
    routes: dict[str, list[str]] = {}
    for country, names in pairs(raw, "LIGHTWAY_SMS_ROUTES").items():
        chain = [name.strip().lower() for name in names.split(",") if name.strip()]
        unknown = [name for name in chain if name not in PROVIDERS]
        if unknown:
            raise NotifyNotConfigured(
                f"LIGHTWAY_SMS_ROUTES: unknown provider {unknown[0]!r}"
                f" (known: {', '.join(PROVIDERS)})",
                code="bad_configuration",
            )
        routes[country] = chain
    return routes


def sms_route(country: str) -> list[str]:
    """The providers to try for a number of ``country``, configured ones only."""
    routes = sms_routes()
    chain = routes.get(country.upper()) or routes.get("*") or []
    return [name for name in chain if sms_provider_configured(name)]


def sms_provider_configured(name: str) -> bool:
    setting = {"africastalking": "AFRICASTALKING_BASE_URL", "twilio": "TWILIO_BASE_URL"}[name]
    return bool(str(getattr(settings, setting, "") or ""))


def sms_gateway(name: str) -> SmsGateway:
    """The configured gateway called ``name`` (NotifyNotConfigured when it is not)."""
    timeout = float(settings.LIGHTWAY_SMS_TIMEOUT_SECONDS)
    if name == "africastalking" and sms_provider_configured(name):
        return _africastalking(
            str(settings.AFRICASTALKING_BASE_URL),
            str(settings.AFRICASTALKING_USERNAME),
            str(settings.AFRICASTALKING_API_KEY),
            str(settings.AFRICASTALKING_SENDER_IDS),
            timeout,
        )
    if name == "twilio" and sms_provider_configured(name):
        return _twilio(
            str(settings.TWILIO_BASE_URL),
            str(settings.TWILIO_ACCOUNT_SID),
            str(settings.TWILIO_AUTH_TOKEN),
            str(settings.TWILIO_SENDERS),
            str(settings.TWILIO_MESSAGING_SERVICE_SID),
            str(settings.TWILIO_STATUS_CALLBACK_URL),
            timeout,
        )
    raise NotifyNotConfigured(f"SMS provider {name} not configured", code="not_configured")


@lru_cache(maxsize=8)
def _africastalking(
    base_url: str, username: str, api_key: str, senders: str, timeout: float
) -> AfricasTalkingSmsGateway:
    return AfricasTalkingSmsGateway(
        base_url=base_url,
        username=username,
        api_key=api_key,
        sender_ids=pairs(senders, "AFRICASTALKING_SENDER_IDS"),
        timeout_seconds=timeout,
    )


@lru_cache(maxsize=8)
def _twilio(
    base_url: str,
    account_sid: str,
    auth_token: str,
    senders: str,
    service: str,
    callback: str,
    timeout: float,
) -> TwilioSmsGateway:
    return TwilioSmsGateway(
        base_url=base_url,
        account_sid=account_sid,
        auth_token=auth_token,
        senders=pairs(senders, "TWILIO_SENDERS"),
        messaging_service_sid=service,
        status_callback=callback,
        timeout_seconds=timeout,
    )


def email_sender() -> EmailSender:
    host = str(getattr(settings, "LIGHTWAY_SMTP_HOST", "") or "")
    if not host:
        raise NotifyNotConfigured("email sender not configured", code="not_configured")
    return SmtpEmailSender(
        host=host,
        port=int(settings.LIGHTWAY_SMTP_PORT),
        from_address=str(settings.LIGHTWAY_EMAIL_FROM),
        user=str(settings.LIGHTWAY_SMTP_USER),
        password=str(settings.LIGHTWAY_SMTP_PASSWORD),
        starttls=bool(settings.LIGHTWAY_SMTP_STARTTLS),
        timeout_seconds=float(settings.LIGHTWAY_SMTP_TIMEOUT_SECONDS),
    )
