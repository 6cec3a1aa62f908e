"""Reconciliation of platform MoMo records against MoMo's own.

- :class:`StatementImport` / :class:`StatementLine`: a float-account statement file as MTN
  exports it (CSV), imported once (its SHA-256 is unique); each line is one MoMo
  transaction as MoMo recorded it.
- :class:`ReconRun`: one comparison over a time window; :class:`ReconItem`: one classified
  pair (platform record, MoMo record) of that run.
- :class:`ReconCase`: an item that needs a person, in the operations work-queue. One open
  case per key (the reference it is about), enforced by a partial unique index.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from lightway.data.ledger.models import CURRENCY_CHOICES
from lightway.data.momo.models import MomoRequest


class StatementImport(models.Model):
    filename = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, unique=True)
    product = models.CharField(max_length=16, blank=True, default="")
    target_environment = models.CharField(max_length=32, blank=True, default="")
    line_count = models.PositiveIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField()

    class Meta:
        db_table = "recon_statement_import"


class StatementLine(models.Model):
    statement = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="lines")
    line_no = models.PositiveIntegerField()
    financial_transaction_id = models.CharField(max_length=64)
    external_id = models.CharField(max_length=64, blank=True, default="")
    # The X-Reference-Id when the statement carries it (MTN exports vary).
    reference_id = models.CharField(max_length=64, blank=True, default="")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    # Signed from the float account's point of view: collections in (+), payouts out (-).
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=24)
    transacted_at = models.DateTimeField()

    class Meta:
        db_table = "recon_statement_line"
        indexes = [
            models.Index(fields=["transacted_at"], name="recon_line_time"),
            models.Index(fields=["external_id"], name="recon_line_external"),
            models.Index(fields=["reference_id"], name="recon_line_reference"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["financial_transaction_id"],
                condition=~Q(financial_transaction_id=""),
                name="recon_line_fin_id_unique",
            ),
            models.UniqueConstraint(fields=["statement", "line_no"], name="recon_line_no_unique"),
        ]


class ReconRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ReconRun(models.Model):
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=ReconRunStatus.choices, default=ReconRunStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # {"matched": n, "missing_at_momo": n, ...} once completed.
    counts = models.JSONField(default=dict)
    auto_resolved = models.PositiveIntegerField(default=0)
    cases_opened = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "recon_run"
        indexes = [models.Index(fields=["-started_at"], name="recon_run_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_end__gt=models.F("window_start")), name="recon_run_window"
            ),
        ]


class Category(models.TextChoices):
    MATCHED = "matched", "Matched"
    MISSING_AT_MOMO = "missing_at_momo", "Missing at MoMo"
    MISSING_ON_PLATFORM = "missing_on_platform", "Missing on the platform"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    STATUS_MISMATCH = "status_mismatch", "Status mismatch"


class Resolution(models.TextChoices):
    NONE = "none", "Nothing to do"
    AUTO_POLLED = "auto_polled", "Resolved automatically by a status read"
    CASE_OPENED = "case_opened", "Case opened for operations"


class ReconItem(models.Model):
    run = models.ForeignKey(ReconRun, on_delete=models.PROTECT, related_name="items")
    category = models.CharField(max_length=24, choices=Category.choices)
    resolution = models.CharField(
        max_length=12, choices=Resolution.choices, default=Resolution.NONE
    )
    request = models.ForeignKey(
        MomoRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    statement_line = models.ForeignKey(
        StatementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference_id = models.CharField(max_length=64, blank=True, default="")
    financial_transaction_id = models.CharField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=64, blank=True, default="")
    operation = models.CharField(max_length=24, blank=True, default="")
    currency = models.CharField(max_length=3, blank=True, default="")
    platform_amount = models.BigIntegerField(null=True, blank=True)
    momo_amount = models.BigIntegerField(null=True, blank=True)
    platform_status = models.CharField(max_length=24, blank=True, default="")
    momo_status = models.CharField(max_length=24, blank=True, default="")
    detail = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "recon_item"
        indexes = [models.Index(fields=["run", "category"], name="recon_item_run_category")]
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=Category.values), name="recon_item_category_valid"
            ),
        ]


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"


class ReconCase(models.Model):
    # What the case is about, e.g. "ref:<uuid>" or "fin:<financialTransactionId>".
    key = models.CharField(max_length=100)
    category = models.CharField(max_length=24, choices=Category.choices)
    item = models.ForeignKey(ReconItem, on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=12, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.CharField(max_length=500, blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "recon_case"
        indexes = [
            models.Index(fields=["status", "-opened_at"], name="recon_case_queue"),
            # The cases page's "recently resolved", newest first, without reading them all.
            models.Index(
                fields=["-resolved_at", "-id"],
                name="recon_case_resolved",
                condition=Q(status="resolved"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=~Q(status="resolved"), name="recon_case_one_open"
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved")
                | (Q(resolved_at__isnull=False) & ~Q(resolution_note="")),
                name="recon_case_resolved_has_note",
            ),
        ]
