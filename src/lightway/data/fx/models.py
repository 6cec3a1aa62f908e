"""FX rates per currency pair.

A rate says how many units of ``quote`` one unit of ``base`` is worth, in major units
(1 EUR = 655.957 XOF is base EUR, quote XOF, mid 655.957). ``bid`` is what the platform pays
for one ``base`` (a customer selling base gets ``bid``), ``ask`` what it charges for one
(a customer buying base pays ``ask``); ``bid <= mid <= ask`` is a database constraint. A rate
entered as mid plus a spread in basis points is stored with its bid and ask worked out
(``lightway.application.fx.pricing.rate_sides``), so pricing reads one form only.

A rate is usable from ``approved_at`` on, for its pair, until a newer approved rate of the
pair replaces it or it grows older than the pair's configured maximum age (then quoting
stops for the pair). Rows are never updated except by their one approval or rejection.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from lightway.data.ledger.models import CURRENCY_CHOICES


class RateStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed (awaiting approval)"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class FxRate(models.Model):
    base = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    quote = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    mid = models.DecimalField(max_digits=30, decimal_places=12)
    bid = models.DecimalField(max_digits=30, decimal_places=12)
    ask = models.DecimalField(max_digits=30, decimal_places=12)
    # Where the figure came from: "treasury" (entered by finance staff), "ecb", "peg", or
    # another feed's name; ``as_of`` is when the source says the rate was true.
    source = models.CharField(max_length=32)
    as_of = models.DateTimeField()
    status = models.CharField(max_length=10, choices=RateStatus.choices)
    proposed_by = models.CharField(max_length=64)
    decided_by = models.CharField(max_length=64, blank=True, default="")
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "fx_rate"
        indexes = [
            # The pair's current rate: one index probe, whatever the history.
            models.Index(
                fields=["base", "quote", "-approved_at"],
                name="fx_rate_current",
                condition=Q(status="approved"),
            ),
            models.Index(
                fields=["created_at"], name="fx_rate_pending", condition=Q(status="proposed")
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(base=F("quote")), name="fx_rate_two_currencies"),
            models.CheckConstraint(
                condition=Q(bid__gt=0) & Q(bid__lte=F("mid")) & Q(mid__lte=F("ask")),
                name="fx_rate_bid_mid_ask",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RateStatus.values), name="fx_rate_status_valid"
            ),
            models.CheckConstraint(
                condition=(Q(status="approved") & Q(approved_at__isnull=False))
                | (~Q(status="approved") & Q(approved_at__isnull=True)),
                name="fx_rate_approved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.base}/{self.quote} {self.mid} ({self.source}, {self.status})"
