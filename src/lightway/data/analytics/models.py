"""Analytics rollups, maintained incrementally by the worker (``analytics_rollup`` job).

Where the figures come from:

- **Facts the database already records** (a transfer reaching ``succeeded``, ``failed`` or
  ``reversed``; a MoMo request created and reaching its outcome; a MoMo callback processed)
  are copied by triggers (migration 0002) into :class:`OutboxEvent`, in the transaction
  that records the fact, so an event exists exactly when its fact committed. The job takes
  a batch of committed events (``DELETE ... RETURNING`` with ``FOR UPDATE SKIP LOCKED``),
  adds them to the rollups and commits both at once. That is the per-source cursor: the
  outbox holds exactly what has not been counted yet, whatever order ids were allocated
  and committed in. A row that commits late (an id below rows already counted) is simply
  still in the outbox at the next run; nothing is skipped, nothing is counted twice, and a
  run reads only the rows it counts (its cost does not grow with history).
- **Latency samples** (each API request, each HTTP call to MoMo) are counted in the
  process into fixed histogram buckets and flushed every few seconds by one upsert
  (``samples.py``): no write on the payment's own transaction, no row every payment
  touches.
- **Queue depth and job lag** are sampled from procrastinate's job table by the job.

Every rollup table has a ``grain``: ``minute``, ``hour``, ``day`` and ``all`` (one bucket
starting at the epoch: the running totals Prometheus exposes as counters). A count is added
to its minute, hour, day and total rows in the same statement, so the hour and day rows are
always exactly the sum of their minutes (a late minute can never miss its hour), and minute
rows can be dropped after ``LIGHTWAY_ANALYTICS_MINUTE_RETENTION_HOURS`` without losing the
hours and days. Amounts are integers in the currency's minor unit.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

# A histogram's last bucket ("+Inf" in Prometheus) as an upper bound in milliseconds.
INF_MS = 2**63 - 1


class Grain(models.TextChoices):
    MINUTE = "minute", "Minute"
    HOUR = "hour", "Hour"
    DAY = "day", "Day"
    ALL = "all", "Since the start"


GRAINS = (Grain.MINUTE, Grain.HOUR, Grain.DAY, Grain.ALL)


class OutboxSource(models.TextChoices):
    TRANSFER = "transfer", "A transfer reached a final state"
    MOMO = "momo", "A MoMo request was created or reached its outcome"
    CALLBACK = "callback", "A MoMo callback was processed"


class OutboxEvent(models.Model):
    """One fact not yet counted (written by the triggers of migration 0002, consumed and
    deleted by the rollup job)."""

    source = models.CharField(max_length=16, choices=OutboxSource.choices)
    ref = models.CharField(max_length=64)  # transfer id, MoMo request id, callback id
    kind = models.CharField(max_length=24, blank=True, default="")  # transfer kind, operation
    product = models.CharField(max_length=16, blank=True, default="")
    currency = models.CharField(max_length=3, blank=True, default="")
    amount = models.BigIntegerField(default=0)
    fee = models.BigIntegerField(default=0)
    client_id = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16)
    reason = models.CharField(max_length=64, blank=True, default="")
    accept_ms = models.BigIntegerField(null=True, blank=True)  # MoMo: created -> accepted
    complete_ms = models.BigIntegerField(null=True, blank=True)  # MoMo: created -> outcome
    at = models.DateTimeField()

    class Meta:
        db_table = "analytics_outbox"


class TransferRollup(models.Model):
    """Transfers that reached a final state per bucket, kind, market, currency, partner
    (its code, "" for customers) and outcome (succeeded, failed, reversed)."""

    grain = models.CharField(max_length=6, choices=Grain.choices)
    bucket_start = models.DateTimeField()
    kind = models.CharField(max_length=16)
    market = models.CharField(max_length=2, blank=True, default="")
    currency = models.CharField(max_length=3)
    partner = models.CharField(max_length=40, blank=True, default="")
    outcome = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)
    amount = models.BigIntegerField(default=0)
    fee = models.BigIntegerField(default=0)

    class Meta:
        db_table = "analytics_transfer_rollup"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "grain",
                    "bucket_start",
                    "kind",
                    "market",
                    "currency",
                    "partner",
                    "outcome",
                ],
                name="analytics_transfer_rollup_key",
            ),
            models.CheckConstraint(
                condition=Q(count__gte=0) & Q(amount__gte=0) & Q(fee__gte=0),
                name="analytics_transfer_rollup_nonneg",
            ),
        ]


class ProviderRollup(models.Model):
    """Calls to a provider's money operations per bucket: ``created`` when the request was
    recorded, then ``successful`` or ``failed`` with the provider's reason code when it
    ended; callbacks as operation ``callback`` with what processing made of them."""

    grain = models.CharField(max_length=6, choices=Grain.choices)
    bucket_start = models.DateTimeField()
    provider = models.CharField(max_length=16)  # "momo"
    product = models.CharField(max_length=16, blank=True, default="")
    operation = models.CharField(max_length=24)
    outcome = models.CharField(max_length=16)
    reason = models.CharField(max_length=64, blank=True, default="")
    currency = models.CharField(max_length=3, blank=True, default="")
    count = models.BigIntegerField(default=0)
    amount = models.BigIntegerField(default=0)

    class Meta:
        db_table = "analytics_provider_rollup"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "grain",
                    "bucket_start",
                    "provider",
                    "product",
                    "operation",
                    "outcome",
                    "reason",
                    "currency",
                ],
                name="analytics_provider_rollup_key",
            ),
            models.CheckConstraint(
                condition=Q(count__gte=0) & Q(amount__gte=0),
                name="analytics_provider_rollup_nonneg",
            ),
        ]


class LatencySource(models.TextChoices):
    API = "api", "A request to this platform's web server (API and panels)"
    MOMO_CALL = "momo_call", "One HTTP call to MTN MoMo"
    MOMO_ACCEPT = "momo_accept", "A MoMo request from creation to MoMo's acceptance"
    MOMO_OUTCOME = "momo_outcome", "A MoMo request from creation to its outcome"


class LatencyRollup(models.Model):
    """A latency histogram per bucket, source, operation and result: how many samples fell
    in the histogram bucket whose upper bound is ``le_ms`` (not cumulative; ``INF_MS`` is
    the last bucket) and their sum. Percentiles are estimated from these counts the way
    Prometheus' ``histogram_quantile`` does (``application/analytics/percentiles.py``)."""

    grain = models.CharField(max_length=6, choices=Grain.choices)
    bucket_start = models.DateTimeField()
    source = models.CharField(max_length=16, choices=LatencySource.choices)
    operation = models.CharField(max_length=100)
    result = models.CharField(max_length=16, blank=True, default="")
    le_ms = models.BigIntegerField()
    count = models.BigIntegerField(default=0)
    sum_ms = models.FloatField(default=0)

    class Meta:
        db_table = "analytics_latency_rollup"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "bucket_start", "source", "operation", "result", "le_ms"],
                name="analytics_latency_rollup_key",
            ),
            models.CheckConstraint(
                condition=Q(count__gte=0) & Q(sum_ms__gte=0), name="analytics_latency_nonneg"
            ),
        ]


class QueueRollup(models.Model):
    """The job queue as the rollup job saw it: jobs waiting (``todo``) and the age of the
    oldest due one, per bucket and queue: samples taken, their sum and maximum."""

    grain = models.CharField(max_length=6, choices=Grain.choices)
    bucket_start = models.DateTimeField()
    queue = models.CharField(max_length=100)
    samples = models.BigIntegerField(default=0)
    todo_sum = models.BigIntegerField(default=0)
    todo_max = models.BigIntegerField(default=0)
    lag_max_ms = models.BigIntegerField(default=0)
    todo_last = models.BigIntegerField(default=0)
    lag_last_ms = models.BigIntegerField(default=0)

    class Meta:
        db_table = "analytics_queue_rollup"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "bucket_start", "queue"], name="analytics_queue_rollup_key"
            ),
        ]


class RollupState(models.Model):
    """Per source: how many events the job has counted and when it last ran (the pages
    say how fresh their figures are)."""

    source = models.CharField(max_length=16, primary_key=True)
    counted = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField()
    newest_event_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "analytics_rollup_state"
