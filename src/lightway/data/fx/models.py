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

What the database enforces (migration 0002, each rule with a test in tests/test_fx_rates.py):

- maker-checker: a rate entered by staff is inserted ``proposed`` and decided once, by
  someone else (``decided_by <> proposed_by``); only a feed (``proposed_by`` = ``decided_by``
  = ``feed:<name>``, source not ``treasury``) inserts a rate already approved;
- a decided (approved or rejected) rate never changes again, and no rate is ever deleted;
- a ``peg`` rate is EUR/XOF or EUR/XAF at exactly 655.957.

``FxQuote`` is a customer's locked price (ACTIVE -> USED once, or EXPIRED); ``FxFeedStatus``
and ``FxPairState`` are what the feed import and the staleness watch last saw.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from lightway.data.ledger.models import CURRENCY_CHOICES


class RateStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed (awaiting approval)"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


# 1 EUR = 655.957 XOF = 655.957 XAF, exactly (docs/fx.md, "The CFA franc peg").
PEG_PARITY = "655.957"
PEG_QUOTES = ("XOF", "XAF")


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
            # A feed's own latest rate of a pair (the import compares with it).
            models.Index(
                fields=["base", "quote", "source", "-approved_at"],
                name="fx_rate_source_current",
                condition=Q(status="approved"),
            ),
            # A pair's history, newest first (keyset paged by created_at, id).
            models.Index(fields=["base", "quote", "-created_at", "-id"], name="fx_rate_history"),
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
            models.CheckConstraint(
                condition=~Q(source="peg")
                | (Q(base="EUR") & Q(quote__in=PEG_QUOTES) & Q(mid=Decimal(PEG_PARITY))),
                name="fx_rate_peg_exact",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.base}/{self.quote} {self.mid} ({self.source}, {self.status})"


class QuoteState(models.TextChoices):
    ACTIVE = "active", "Active (the rate is locked until expires_at)"
    USED = "used", "Used by one exchange"
    EXPIRED = "expired", "Expired unused"


class FxQuote(models.Model):
    """A price given to a customer: ``send_amount`` of ``send_currency`` buys
    ``receive_amount`` of ``receive_currency`` at ``rate`` until ``expires_at``, once.

    Amounts are minor units; ``spread_amount`` (receive currency) is what the platform earns
    against ``mid_rate``. ``rate_id`` is the rate it was priced from (the send-side leg of a
    cross rate, ``cross_rate_id`` the other). The trigger of migration 0002 lets a quote
    change only from ACTIVE to USED (with its transfer) or to EXPIRED, once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    send_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    receive_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    send_amount = models.BigIntegerField()
    receive_amount = models.BigIntegerField()
    spread_amount = models.BigIntegerField()
    rate = models.DecimalField(max_digits=30, decimal_places=12)
    mid_rate = models.DecimalField(max_digits=30, decimal_places=12)
    fixed = models.CharField(max_length=7)  # "send" | "receive"
    rate_source = models.CharField(max_length=32)
    rate_as_of = models.DateTimeField()
    fx_rate = models.ForeignKey(
        FxRate, null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    cross_rate = models.ForeignKey(
        FxRate, null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    rounding = models.CharField(max_length=200)
    state = models.CharField(max_length=8, choices=QuoteState.choices)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The exchange that used it (no foreign key: the transfers app is not a dependency of
    # this one; ``ledger verify`` joins the two).
    transfer_id = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "fx_quote"
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="fx_quote_customer_recent"),
            models.Index(
                fields=["expires_at"], name="fx_quote_active_expiry", condition=Q(state="active")
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["transfer_id"],
                name="fx_quote_one_per_transfer",
                condition=Q(transfer_id__isnull=False),
            ),
            models.CheckConstraint(
                condition=~Q(send_currency=F("receive_currency")), name="fx_quote_two_currencies"
            ),
            models.CheckConstraint(
                condition=Q(send_amount__gt=0) & Q(receive_amount__gt=0) & Q(spread_amount__gte=0),
                name="fx_quote_amounts",
            ),
            models.CheckConstraint(
                condition=Q(state__in=QuoteState.values), name="fx_quote_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(fixed__in=["send", "receive"]), name="fx_quote_fixed_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="fx_quote_expiry_after_creation"
            ),
            models.CheckConstraint(
                condition=(
                    Q(state="used") & Q(transfer_id__isnull=False) & Q(used_at__isnull=False)
                )
                | (~Q(state="used") & Q(transfer_id__isnull=True) & Q(used_at__isnull=True)),
                name="fx_quote_used_has_transfer",
            ),
        ]

    def __str__(self) -> str:
        return f"quote {self.id} {self.send_currency}->{self.receive_currency} ({self.state})"


class FxFeedStatus(models.Model):
    """What the last import of one rate feed did (the staff feed panel)."""

    feed = models.CharField(max_length=32, primary_key=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    published_as_of = models.DateTimeField(null=True, blank=True)
    imported = models.IntegerField(default=0)  # rates inserted by the last successful run
    last_error = models.CharField(max_length=300, blank=True, default="")
    failures = models.IntegerField(default=0)  # consecutive failed runs

    class Meta:
        db_table = "fx_feed_status"

    def __str__(self) -> str:
        return f"feed {self.feed}"


class PairState(models.TextChoices):
    OK = "ok", "Quoting"
    STALE = "stale", "Stopped: the rate is older than its maximum age"
    MISSING = "missing", "Stopped: no approved rate"


class FxPairState(models.Model):
    """Whether a watched pair was quotable at the last watch run, and since when: one alert
    per change from quoting to stopped (and one notice when it recovers)."""

    pair = models.CharField(max_length=7, primary_key=True)  # "EUR/USD"
    state = models.CharField(max_length=8, choices=PairState.choices)
    since = models.DateTimeField()
    as_of = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=32, blank=True, default="")
    alerted_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        db_table = "fx_pair_state"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=PairState.values), name="fx_pair_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pair} {self.state}"
