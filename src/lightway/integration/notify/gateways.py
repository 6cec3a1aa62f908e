"""The SMS gateway and email sender the platform uses, chosen by settings.

``NOTIFY_BASE_URL`` (+ ``NOTIFY_SMS_API_KEY``, ``NOTIFY_SMS_SENDER``) selects the HTTP SMS
provider; ``LIGHTWAY_SMTP_*`` and ``LIGHTWAY_EMAIL_FROM`` the SMTP server. Empty
``NOTIFY_BASE_URL`` / ``LIGHTWAY_SMTP_HOST`` raise :class:`NotifyNotConfigured` (a
permanent error: the delivery fails with a clear ``last_error``). One HTTP client is kept
per configuration, so connections are reused and tests that change settings get a new one.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from lightway.integration.notify.email_smtp import SmtpEmailSender
from lightway.integration.notify.port import EmailSender, NotifyNotConfigured, SmsGateway
from lightway.integration.notify.sms_client import HttpSmsGateway


@lru_cache(maxsize=8)
def _http_gateway(base_url: str, api_key: str, sender: str, timeout: float) -> HttpSmsGateway:
    return HttpSmsGateway(
        base_url=base_url, api_key=api_key, sender=sender, timeout_seconds=timeout
    )


def sms_gateway() -> SmsGateway:
    base_url = str(getattr(settings, "NOTIFY_BASE_URL", "") or "")
    if not base_url:
        raise NotifyNotConfigured("SMS gateway not configured", code="not_configured")
    return _http_gateway(
        base_url,
        str(settings.NOTIFY_SMS_API_KEY),
        str(settings.NOTIFY_SMS_SENDER),
        float(settings.NOTIFY_SMS_TIMEOUT_SECONDS),
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
