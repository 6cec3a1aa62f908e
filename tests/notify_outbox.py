"""The ``outbox`` test helper (fixture in conftest.py): deliver queued notifications through
the real SMS/SMTP simulator and read what arrived."""

from __future__ import annotations

import re
from datetime import datetime

from django.db import connection
from django.utils import timezone

from lightway.application.notifications.service import DELIVER_TASK, notification_deliver
from lightway.data.notify.models import Delivery, DeliveryStatus
from lightway.integration.notify.simulator import NotifySimulator, SimMessage

CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
LINK_RE = re.compile(r"https?://[^\s<>\"']+")


class Email(str):
    """An email that arrived: the string is ``"Subject: ...\\n\\n<body>"`` (so ``in``
    checks see both); ``.subject``, ``.text``, ``.to``, ``.sender`` give the parts."""

    subject: str
    text: str
    to: str
    sender: str

    def __new__(cls, message: SimMessage) -> Email:
        email = super().__new__(cls, f"Subject: {message.subject}\n\n{message.text}")
        email.subject, email.text = message.subject, message.text
        email.to, email.sender = message.to, message.sender
        return email


class Outbox:
    def __init__(self, simulator: NotifySimulator) -> None:
        self.simulator = simulator

    def deliver_pending(self, now: datetime | None = None) -> int:
        """Run one delivery attempt for every queued notification (as the worker's job
        would), each at ``now`` or its due time if later; return how many were tried.
        A delivery that fails temporarily is queued again, not retried in this call."""
        due = list(
            Delivery.objects.filter(status=DeliveryStatus.QUEUED)
            .order_by("id")
            .values_list("id", "next_attempt_at")
        )
        clock = now or timezone.now()
        for delivery_id, next_attempt_at in due:
            notification_deliver(delivery_id=delivery_id, now=max(clock, next_attempt_at))
        if due:
            # Their jobs have been done here: a real worker must not find them waiting.
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM procrastinate_jobs WHERE task_name = %s AND status = 'todo'"
                    " AND (args->>'delivery_id')::bigint = ANY(%s)",
                    [DELIVER_TASK, [d for d, _ in due]],
                )
        return len(due)

    # --- SMS ---

    def sms_to(self, phone: str) -> list[str]:
        """Texts of the SMS that reached ``phone``, newest first (delivers pending first)."""
        self.deliver_pending()
        return [m.text for m in self.simulator.messages(to=phone, channel="sms")]

    def latest_sms(self, phone: str) -> str:
        texts = self.sms_to(phone)
        if not texts:
            raise AssertionError(f"no SMS reached {phone}{self._why()}")
        return texts[0]

    def latest_code(self, phone: str) -> str:
        text = self.latest_sms(phone)
        match = CODE_RE.search(text)
        if match is None:
            raise AssertionError(f"the latest SMS to {phone} holds no 6-digit code: {text!r}")
        return match.group(1)

    # --- email ---

    def emails_to(self, address: str) -> list[Email]:
        self.deliver_pending()
        return [Email(m) for m in self.simulator.messages(to=address, channel="email")]

    def latest_email(self, address: str) -> Email:
        emails = self.emails_to(address)
        if not emails:
            raise AssertionError(f"no email reached {address}{self._why()}")
        return emails[0]

    def latest_link(self, address: str) -> str:
        email = self.latest_email(address)
        match = LINK_RE.search(email.text)
        if match is None:
            raise AssertionError(f"the latest email to {address} holds no link: {email.text!r}")
        return match.group(0).rstrip(".,;:)")

    def latest_email_code(self, address: str) -> str:
        email = self.latest_email(address)
        match = CODE_RE.search(email.text)
        if match is None:
            raise AssertionError(f"the latest email to {address} holds no 6-digit code")
        return match.group(1)

    # --- faults ---

    def set_faults(self, **values: int) -> None:
        """See ``NotifySimulator`` (``sms_errors``, ``sms_status``, ``smtp_errors``...)."""
        self.simulator.set_faults(**values)

    def _why(self) -> str:
        recent = list(
            Delivery.objects.order_by("-id").values_list(
                "id", "channel", "template", "status", "last_error"
            )[:5]
        )
        return f" (latest deliveries: {recent})" if recent else " (no delivery was queued)"
