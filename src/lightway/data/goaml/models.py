"""goAML regulatory export: per-FIU configuration versions and the generated files.

- :class:`FiuConfig`: how one Financial Intelligence Unit wants its reports (schema version
  and the XSD to validate against, report and indicator codes, the CTR threshold per
  currency, the reporting entity id, lookup codes). A new version is a new row with a later
  ``effective_from``; the version in force on a report's date is used. Rows never change
  and are never deleted (migration 0002), so a report can always be explained by the
  configuration it was built from.
- :class:`GoamlFile`: every file the platform released (goAML XML, and the CSV returns for
  central banks), sealed at rest (``content_ct``, AES-GCM envelope from
  ``lightway.security.crypto`` with the file's reference as associated data), with the
  SHA-256 of its clear bytes, which the audit trail also carries. Only a re-seal under
  another data-key version may change a row (migration 0002); files are never deleted.
- :class:`CtrDay`: one row per (FIU, local day) whose CTRs were released (its files, none
  when nothing reached the threshold), so a day is reported once: by the daily job
  (``goaml_ctr_daily``, for configurations with ``ctr_daily``) or by hand (migration 0003).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

SCHEMA_VERSIONS = ("4.0.2", "5.0.2")


class FiuConfig(models.Model):
    fiu = models.SlugField(max_length=40, help_text="the FIU's name here, e.g. uganda-fia")
    effective_from = models.DateField(help_text="first report date this version applies to")
    fiu_name = models.CharField(max_length=200, help_text="the FIU's full name")
    schema_version = models.CharField(max_length=10)
    xsd_file = models.CharField(max_length=100, help_text="a schema shipped in application/goaml")
    timezone = models.CharField(max_length=64, help_text="dates in the file are local to it")
    rentity_id = models.PositiveIntegerField(help_text="reporting entity id issued by the FIU")
    rentity_branch = models.CharField(max_length=255, blank=True, default="")
    submission_code = models.CharField(max_length=1, default="E")
    currency_code_local = models.CharField(max_length=3)
    # {"STR": "STR", "CTR": "CTR"} (PPATK: {"STR": "LTKM", "CTR": "LTKT"})
    report_codes = models.JSONField()
    # platform indicator (AML rule code) -> FIU indicator codes
    indicator_codes = models.JSONField(default=dict)
    # FIU indicator codes every CTR carries (UAE requires at least one indicator)
    ctr_indicators = models.JSONField(default=list)
    # currency -> threshold in minor units: a transfer at or above it goes into the CTR
    ctr_thresholds = models.JSONField()
    ctr_batch_size = models.PositiveIntegerField(default=500)
    # the daily job exports each complete local day's CTRs for this FIU (docs/goaml.md)
    ctr_daily = models.BooleanField(default=False)
    # lookup codes and fixed values the schema requires (application/goaml/config.py: CODES)
    codes = models.JSONField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=64)

    class Meta:
        db_table = "goaml_fiu_config"
        constraints = [
            models.UniqueConstraint(fields=["fiu", "effective_from"], name="goaml_fiu_version"),
            models.CheckConstraint(
                condition=Q(schema_version__in=SCHEMA_VERSIONS), name="goaml_schema_known"
            ),
            models.CheckConstraint(condition=Q(rentity_id__gte=1), name="goaml_rentity_id_pos"),
            models.CheckConstraint(
                condition=Q(ctr_batch_size__gte=1, ctr_batch_size__lte=100000),
                name="goaml_batch_size_range",
            ),
            models.CheckConstraint(
                condition=Q(currency_code_local__regex=r"^[A-Z]{3}$"),
                name="goaml_currency_iso",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fiu} from {self.effective_from} ({self.schema_version})"


class FileKind(models.TextChoices):
    STR = "STR", "Suspicious transaction report (goAML XML)"
    CTR = "CTR", "Large / cash transaction report (goAML XML)"
    RETURN_LARGE = "large-transactions", "Large-transactions return (CSV)"
    RETURN_STR = "str-register", "STR register (CSV)"


class GoamlFile(models.Model):
    reference = models.CharField(max_length=100, unique=True)  # entity_reference, sealing context
    fiu = models.SlugField(max_length=40)
    config = models.ForeignKey(FiuConfig, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=FileKind.choices)
    content_type = models.CharField(max_length=40)
    filename = models.CharField(max_length=150)
    period_start = models.DateField()
    period_end = models.DateField()  # included
    case_reference = models.CharField(max_length=40, blank=True, default="")
    transactions = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    amount_total = models.BigIntegerField()  # minor units of ``currency``
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content_ct = models.BinaryField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=64)

    class Meta:
        db_table = "goaml_file"
        indexes = [
            # The staff page lists files newest first, a keyset page at a time.
            models.Index(fields=["-created_at", "-id"], name="goaml_file_recent"),
            # The STR register: the STRs filed for one FIU in a period.
            models.Index(fields=["fiu", "kind", "created_at"], name="goaml_file_fiu_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=FileKind.values), name="goaml_file_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="goaml_file_sha256_hex"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="goaml_file_period_order",
            ),
            models.CheckConstraint(condition=Q(size__gte=1), name="goaml_file_not_empty"),
            # One STR per case and FIU: a case filed again returns the file released first.
            models.UniqueConstraint(
                fields=["fiu", "case_reference"],
                condition=Q(kind="STR"),
                name="goaml_file_one_str_per_case",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class CtrDay(models.Model):
    """A local day of an FIU whose CTRs were released (``files``: the ids of the files
    that report it, empty when no transfer reached the threshold). Unique per (FIU, day):
    a day is never reported twice. Never changed or deleted (migration 0003)."""

    fiu = models.SlugField(max_length=40)
    day = models.DateField()
    config = models.ForeignKey(FiuConfig, on_delete=models.PROTECT, related_name="+")
    files = ArrayField(models.BigIntegerField(), default=list, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=64)

    class Meta:
        db_table = "goaml_ctr_day"
        constraints = [
            models.UniqueConstraint(fields=["fiu", "day"], name="goaml_ctr_day_once"),
        ]

    def __str__(self) -> str:
        return f"CTR {self.fiu} {self.day}"
