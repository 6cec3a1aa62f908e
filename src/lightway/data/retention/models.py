"""Retention: policies per data class and country, legal holds, and the runs of the job.

- :class:`RetentionPolicy` is one *version* of how long a data class is kept in one country
  (``country = ""``: the default for every country without its own). A version is never
  edited or deleted, and never back-dated (trigger, migration 0002): a change is a new
  version with a later ``effective_from``; a version is in force until the next one of
  the same class and country starts. The version in force for (class, country, date) is one
  probe of the unique index (``lightway.application.retention.policies``).
- :class:`LegalHold` keeps a person (or an AML case) out of every erasure and purge until it
  is released; it is released once, by someone other than the one who placed it, and never
  deleted (trigger). While a person has an active hold, the database refuses to destroy
  their key (trigger on ``identity_person_key``).
- :class:`RetentionRun` records each plan or run with its counts per class and country.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# The shortest retention an AML record may have anywhere (compliance.md §3: 5 years in Ghana
# and Rwanda, 10 in Uganda; enforced by a check constraint).
AML_MINIMUM_YEARS = 5


class DataClass(models.TextChoices):
    LEDGER = "ledger", "Ledger entries and postings"
    TRANSACTIONS = "transactions", "Transfers and payments"
    AML_RECORDS = "aml_records", "AML records (due diligence, alerts, cases, reports)"
    KYC = "kyc", "KYC documents and data"
    PERSONAL_DATA = "personal_data", "Customer personal data"
    NOTIFICATION_LOG = "notification_log", "Notification log"
    AUDIT_RECORDS = "audit_records", "Audit records"
    WEB_SESSIONS = "web_sessions", "Web sessions"
    MOMO_CALLBACKS = "momo_callbacks", "MoMo callbacks"


class RetentionPolicy(models.Model):
    data_class = models.CharField(max_length=24, choices=DataClass.choices)
    country = models.CharField(max_length=2, blank=True, default="", help_text="'' = default")
    years = models.PositiveSmallIntegerField(default=0)
    days = models.PositiveIntegerField(default=0)
    effective_from = models.DateField()
    legal_source = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=64)

    class Meta:
        db_table = "retention_policy"
        ordering = ["data_class", "country", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["data_class", "country", "effective_from"],
                name="retention_policy_one_version_per_day",
            ),
            models.CheckConstraint(
                condition=Q(data_class__in=DataClass.values), name="retention_policy_class_known"
            ),
            models.CheckConstraint(
                condition=Q(country="") | Q(country__regex=r"^[A-Z]{2}$"),
                name="retention_policy_country_iso",
            ),
            models.CheckConstraint(
                condition=Q(years__gt=0) | Q(days__gt=0), name="retention_policy_period_positive"
            ),
            models.CheckConstraint(
                condition=~Q(data_class=DataClass.AML_RECORDS) | Q(years__gte=AML_MINIMUM_YEARS),
                name="retention_policy_aml_legal_minimum",
            ),
            models.CheckConstraint(
                condition=~Q(legal_source=""), name="retention_policy_source_given"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.data_class} {self.country or '*'} from {self.effective_from}"


class LegalHold(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="legal_holds",
    )
    case_ref = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(max_length=500)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        db_table = "retention_legal_hold"
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["user"], condition=Q(released_at__isnull=True), name="retention_hold_active"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(case_ref=""), name="retention_hold_subject"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="retention_hold_reason"),
            models.CheckConstraint(
                condition=(
                    Q(released_at__isnull=True, released_by__isnull=True, release_reason="")
                    | (
                        Q(released_at__isnull=False, released_by__isnull=False)
                        & ~Q(release_reason="")
                    )
                ),
                name="retention_hold_release_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"legal hold {self.pk}"


class RunMode(models.TextChoices):
    PLAN = "plan", "Plan (dry run)"
    RUN = "run", "Run"


class RetentionRun(models.Model):
    mode = models.CharField(max_length=8, choices=RunMode.choices)
    actor = models.CharField(max_length=64)
    as_of = models.DateTimeField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # [{"data_class", "country", "action", "count"}]
    counts = models.JSONField(default=list)
    total = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "retention_run"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(mode__in=RunMode.values), name="retention_run_mode_known"
            ),
        ]

    def __str__(self) -> str:
        return f"retention {self.mode} {self.pk}"
