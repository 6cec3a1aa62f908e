"""Email over real SMTP (``smtplib``): plain-text messages, STARTTLS when configured.

A 4xx SMTP reply, a timeout or a refused connection is temporary; a 5xx reply (unknown
mailbox, refused credentials) is permanent. Credentials are never sent in clear to a
host that is not loopback: with ``LIGHTWAY_SMTP_USER`` set, STARTTLS is required.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from lightway.integration.notify.port import (
    EmailResult,
    NotifyNotConfigured,
    NotifyPermanentError,
    NotifyTemporaryError,
    is_loopback_host,
)


class SmtpEmailSender:
    """An :class:`~lightway.integration.notify.port.EmailSender` over SMTP."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_address: str,
        user: str = "",
        password: str = "",
        starttls: bool = False,
        timeout_seconds: float = 10.0,
        message_id_domain: str = "lightway.local",
    ) -> None:
        if not host:
            raise NotifyNotConfigured("email sender not configured", code="not_configured")
        if user and not starttls and not is_loopback_host(host):
            raise NotifyNotConfigured(
                "LIGHTWAY_SMTP_STARTTLS must be on to send SMTP credentials to a remote host",
                code="bad_configuration",
            )
        self.host = host
        self.port = port
        self.from_address = from_address
        self.user = user
        self.password = password
        self.starttls = starttls
        self.timeout_seconds = timeout_seconds
        self.message_id_domain = message_id_domain

    def message(self, *, to: str, subject: str, text: str, reference: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.from_address
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(idstring=reference, domain=self.message_id_domain)
        msg["X-LightWay-Reference"] = reference
        msg.set_content(text)
        return msg

    def send(self, *, to: str, subject: str, text: str, reference: str) -> EmailResult:
        msg = self.message(to=to, subject=subject, text=text, reference=reference)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _reply in exc.recipients.values()]
            reply = codes[0] if codes else 550
            raise _by_reply_code(reply, "recipient refused") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_reply_code(exc.smtp_code, type(exc).__name__) from None
        except smtplib.SMTPNotSupportedError:
            raise NotifyPermanentError(
                "SMTP server does not support STARTTLS", code="starttls_unsupported"
            ) from None
        except ssl.SSLCertVerificationError:
            raise NotifyPermanentError(
                "SMTP server certificate did not verify", code="tls_verify"
            ) from None
        except TimeoutError:
            raise NotifyTemporaryError("SMTP server timed out", code="timeout") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyTemporaryError(
                f"SMTP server unreachable ({type(exc).__name__})", code="unreachable"
            ) from None
        return EmailResult(provider_id=str(msg["Message-ID"]))


def _by_reply_code(code: int, what: str) -> NotifyTemporaryError | NotifyPermanentError:
    message = f"SMTP server answered {code} ({what})"
    if 400 <= code < 500:
        return NotifyTemporaryError(message, code=f"smtp_{code}")
    return NotifyPermanentError(message, code=f"smtp_{code}")
