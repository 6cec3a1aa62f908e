"""AML monitoring: versioned rules, sanctions lists and hits, alerts and cases.

What PostgreSQL enforces (migration 0002, tests in tests/test_aml_*.py):

- a rule version that is in force or past (``effective_from <= now()``) is never updated
  or deleted: a change is a new version (``aml_rule_version_frozen``);
- one active sanctions list at a time (a partial unique index), and a list's entries are
  never changed once imported;
- an alert is unique per (rule, subject, window) (``aml_alert_dedupe``): re-running a
  window adds nothing;
- a case's filing is approved by someone other than its proposer, only after a proposal;
  a closed case carries its reason (``aml_case_guard``); case events are append-only.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class RuleMode(models.TextChoices):
    INLINE = "inline", "Inline (inside each payment)"
    BATCH = "batch", "Batch (periodic job)"


class RuleAction(models.TextChoices):
    FLAG = "flag", "Flag (raise an alert)"
    REFUSE = "refuse", "Refuse the payment"


class RuleVersion(models.Model):
    """One version of one rule. The version in force at T for a code: the row with the
    latest ``effective_from`` not after T (and ``effective_to`` empty or after T); a
    version with ``enabled`` false switches the rule off from its date."""

    code = models.CharField(max_length=40)
    kind = models.CharField(max_length=24)
    version = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    mode = models.CharField(max_length=8, choices=RuleMode.choices)
    action = models.CharField(max_length=8, choices=RuleAction.choices)
    parameters = models.JSONField(default=dict)
    note = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField()

    class Meta:
        db_table = "aml_rule_version"
        indexes = [
            models.Index(fields=["code", "-effective_from", "-version"], name="aml_rule_in_force"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="aml_rule_code_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="aml_rule_version_positive"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gt=models.F("effective_from")),
                name="aml_rule_effective_range",
            ),
            models.CheckConstraint(
                condition=Q(mode__in=RuleMode.values), name="aml_rule_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(action__in=RuleAction.values), name="aml_rule_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"


class SanctionsList(models.Model):
    """One import of a sanctions list file; exactly one is active at a time."""

    source = models.CharField(max_length=40, default="un-sc")
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    generated_on = models.CharField(max_length=40, blank=True, default="")
    entries = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=False)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    imported_at = models.DateTimeField()

    class Meta:
        db_table = "aml_sanctions_list"
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="aml_sanctions_one_active"
            ),
        ]


class SanctionsEntry(models.Model):
    """One listed individual or entity. ``names``: every name it is known by, each
    ``{"name", "source" (primary | alias | original_script), "quality", "normalised"}``."""

    sanctions_list = models.ForeignKey(SanctionsList, on_delete=models.PROTECT, related_name="+")
    data_id = models.CharField(max_length=40)
    kind = models.CharField(max_length=12)  # individual | entity
    reference_number = models.CharField(max_length=40, blank=True, default="")
    list_type = models.CharField(max_length=60, blank=True, default="")
    listed_on = models.CharField(max_length=20, blank=True, default="")
    primary_name = models.CharField(max_length=400)
    names = models.JSONField(default=list)
    details = models.JSONField(default=dict)  # dates of birth, nationalities, comments

    class Meta:
        db_table = "aml_sanctions_entry"
        constraints = [
            models.UniqueConstraint(
                fields=["sanctions_list", "data_id"], name="aml_sanctions_entry_unique"
            ),
        ]


class HitStatus(models.TextChoices):
    OPEN = "open", "Open (counts as sanctioned)"
    DISMISSED = "dismissed", "Dismissed (false positive)"


class SanctionsHit(models.Model):
    """A name that matched a list entry, and why: which entry and which of its names, both
    normalised forms, the score and the threshold in force. The subject's normalised name
    is personal data: sealed in ``subject_name_ct`` (with the customer's own key, see
    ``lightway.application.aml.sanctions``; a CHECK of migration 0003 refuses clear bytes).
    ``entry_name``/``entry_normalised`` are the list's public names."""

    sanctions_list = models.ForeignKey(SanctionsList, on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(SanctionsEntry, on_delete=models.PROTECT, related_name="+")
    subject_type = models.CharField(max_length=12)  # customer | beneficiary
    subject_ref = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    subject_name_ct = models.BinaryField()
    entry_name = models.CharField(max_length=400)
    entry_normalised = models.CharField(max_length=400)
    name_source = models.CharField(max_length=16)
    scorer = models.CharField(max_length=60)
    score = models.FloatField()
    threshold = models.FloatField()
    status = models.CharField(max_length=10, choices=HitStatus.choices, default=HitStatus.OPEN)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "aml_sanctions_hit"
        indexes = [
            models.Index(fields=["user"], name="aml_hit_open_user", condition=Q(status="open")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["sanctions_list", "entry", "subject_type", "subject_ref"],
                name="aml_hit_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=HitStatus.values), name="aml_hit_status_valid"
            ),
        ]


class CaseState(models.TextChoices):
    OPEN = "open", "Open"
    ESCALATED = "escalated", "Escalated"
    FILING_PROPOSED = "filing_proposed", "STR filing proposed"
    FILING_APPROVED = "filing_approved", "STR filing approved"
    CLOSED = "closed", "Closed"


class Case(models.Model):
    reference = models.CharField(max_length=20, unique=True)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    subject_ref = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=CaseState.choices, default=CaseState.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    filing_reason = models.TextField(blank=True, default="")
    filing_action = models.CharField(max_length=300, blank=True, default="")
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=500, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "aml_case"
        indexes = [
            # the open case of a subject (an alert joins it)
            models.Index(
                fields=["subject_ref"], name="aml_case_open_subject", condition=~Q(state="closed")
            ),
            # approved filings in a period (suspicion_inputs)
            models.Index(
                fields=["approved_at"],
                name="aml_case_approved",
                condition=Q(approved_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=CaseState.values), name="aml_case_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | (Q(proposed_by__isnull=False) & ~Q(approved_by=models.F("proposed_by"))),
                name="aml_case_maker_checker",
            ),
            models.CheckConstraint(
                condition=~Q(state="closed") | ~Q(closed_reason=""),
                name="aml_case_closed_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class AlertStatus(models.TextChoices):
    NEW = "new", "New"
    IN_CASE = "in_case", "In a case"


class Alert(models.Model):
    rule = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+")
    rule_code = models.CharField(max_length=40)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    subject_ref = models.CharField(max_length=64)  # "user:<id>" or "remittance:<uuid>"
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200)
    transfer_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    evidence = models.JSONField(default=dict)
    score = models.FloatField(default=0)
    action = models.CharField(max_length=8, choices=RuleAction.choices)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    created_at = models.DateTimeField()

    class Meta:
        db_table = "aml_alert"
        indexes = [
            # the queue, newest first (keyset), and per rule
            models.Index(fields=["-created_at", "-id"], name="aml_alert_queue"),
            models.Index(fields=["rule_code", "-created_at", "-id"], name="aml_alert_rule"),
            models.Index(fields=["case"], name="aml_alert_case"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="aml_alert_dedupe"),
        ]


class CaseEvent(models.Model):
    """The case's timeline (append-only)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(max_length=20)
    text = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "aml_case_event"
        indexes = [models.Index(fields=["case", "id"], name="aml_case_event_case")]
