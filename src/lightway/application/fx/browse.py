"""What the staff FX pages show (interfaces/panels/lightway/fx.py): reads only, each at a
cost that does not grow with the history (watched pairs, pending proposals, one page of a
pair's history by keyset)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lightway.application.errors import ValidationFailed
from lightway.application.fx.feeds import fx_feed_statuses
from lightway.application.fx.rates import FxUnavailable, fx_rate_for, rate_max_age
from lightway.application.fx.watch import watched_pairs
from lightway.data.fx.models import FxFeedStatus, FxRate
from lightway.data.fx.selectors import fx_rate_history, fx_rates_pending
from lightway.data.money import MoneyError, currency


@dataclass(frozen=True)
class PairRow:
    pair: str
    base: str
    quote: str
    quoting: bool
    reason: str
    source: str
    mid: str
    bid: str
    ask: str
    as_of: datetime | None
    age_seconds: int | None
    ageless: bool = False  # a peg: its age means nothing

    @property
    def age(self) -> str:
        if self.age_seconds is None:
            return ""
        if self.ageless:
            return "does not age"
        minutes = self.age_seconds // 60
        if minutes < 120:
            return f"{minutes} min"
        return f"{minutes // 60} h {minutes % 60:02d} min"


def fx_pair_rows(*, now: datetime) -> list[PairRow]:
    """Each watched pair: the rate that prices it now (or why none does), its age, source."""
    rows = []
    for base, quote in watched_pairs():
        pair = f"{base}/{quote}"
        try:
            view = fx_rate_for(send=base, receive=quote, now=now)
        except FxUnavailable as exc:
            rows.append(
                PairRow(
                    pair=pair,
                    base=base,
                    quote=quote,
                    quoting=False,
                    reason=exc.message,
                    source=str(exc.details.get("source", "")),
                    mid="",
                    bid="",
                    ask="",
                    as_of=None,
                    age_seconds=None,
                )
            )
            continue
        assert view is not None
        ageless = not view.source.startswith("cross:") and rate_max_age(view.source, pair) is None
        rows.append(
            PairRow(
                pair=pair,
                base=base,
                quote=quote,
                quoting=True,
                reason="",
                source=view.source,
                mid=str(view.mid),
                bid=str(view.bid),
                ask=str(view.ask),
                as_of=view.as_of,
                age_seconds=max(int((now - view.as_of).total_seconds()), 0),
                ageless=ageless,
            )
        )
    return rows


def fx_pending() -> list[FxRate]:
    return fx_rates_pending()


def fx_feeds() -> list[FxFeedStatus]:
    return fx_feed_statuses()


def pair_parse(base: str, quote: str) -> tuple[str, str]:
    try:
        b, q = currency(base.upper()).code, currency(quote.upper()).code
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "pair"}) from None
    if b == q:
        raise ValidationFailed("A pair needs two currencies.", details={"field": "pair"})
    return b, q


def cursor_parse(raw: str) -> tuple[datetime, int] | None:
    """A history page cursor ``<created_at ISO>~<id>`` (as the page wrote it), or None."""
    if not raw:
        return None
    at, _, pk = raw.rpartition("~")
    try:
        return datetime.fromisoformat(at), int(pk)
    except ValueError:
        raise ValidationFailed(
            "That page link is not valid.", details={"field": "before"}
        ) from None


def cursor_of(row: FxRate) -> str:
    return f"{row.created_at.isoformat()}~{row.pk}"


def fx_history_page(
    *, base: str, quote: str, before: str, limit: int = 50
) -> tuple[list[FxRate], str | None]:
    """One page of a pair's rates (both ways round are separate pairs), newest first, and
    the cursor of the next page (None on the last)."""
    b, q = pair_parse(base, quote)
    rows = fx_rate_history(base=b, quote=q, before=cursor_parse(before), limit=limit)
    return rows, (cursor_of(rows[-1]) if len(rows) == limit else None)
