"""Security records: API tokens, role assignments, throttles (lockout) and one-time codes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from lightway.security.policy import Role


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80, default="default")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "security_api_token"

    def __str__(self) -> str:
        return f"token {self.prefix}… for user {self.user_id}"


class RoleAssignment(models.Model):
    """A role held by a user; the realm of the role must be the user's realm (service rule)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.CharField(max_length=24, choices=Role.choices)
    granted_by = models.CharField(max_length=40)
    granted_at = models.DateTimeField()

    class Meta:
        db_table = "security_role_assignment"
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="role_assignment_once"),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="role_assignment_known_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} for user {self.user_id}"


class RateCounter(models.Model):
    """Requests counted against one rate limit and subject in the current window
    (``lightway.security.ratelimit``). ``key`` holds the limit's name and a keyed hash of
    the subject (client address, phone number), never the value itself."""

    key = models.CharField(max_length=120, primary_key=True)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "security_rate_counter"
        indexes = [models.Index(fields=["window_start"], name="rate_counter_window_idx")]

    def __str__(self) -> str:
        return f"rate {self.key} ({self.hits})"


class Throttle(models.Model):
    """Failed attempts against one key ("password:<user>", "otp:<purpose>:<user>", ...).

    After ``LIGHTWAY_LOCKOUT_FREE_ATTEMPTS`` failures each further failure locks the key for
    an exponentially growing time (capped); a success clears it.
    """

    key = models.CharField(max_length=120, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "security_throttle"

    def __str__(self) -> str:
        return f"throttle {self.key} ({self.failures})"


class OneTimeCode(models.Model):
    """A numeric code sent by SMS or a token sent by email link; stored as a keyed hash."""

    purpose = models.CharField(max_length=32)  # phone_verify, email_verify, login, step_up...
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", null=True
    )
    target_bidx = models.CharField(max_length=64, blank=True)  # the phone/email it went to
    code_hash = models.CharField(max_length=64)
    context = models.CharField(max_length=200, blank=True)  # what it authorises
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "security_one_time_code"
        indexes = [models.Index(fields=["purpose", "user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} code for user {self.user_id}"
