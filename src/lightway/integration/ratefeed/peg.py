"""The CFA franc peg as a feed: XOF (UEMOA) and XAF (CEMAC) follow the euro at the fixed
parity 1 EUR = 655.957 francs, exactly (1 EUR = 6.55957 FRF, Council Regulation (EC) No
2866/98, times 100 CFA francs per French franc since 1994; kept after the euro by Council
Decision 98/683/EC). The parity does not age: ``as_of`` is the day it took effect."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from lightway.data.fx.models import PEG_PARITY, PEG_QUOTES
from lightway.integration.ratefeed.port import FeedPublication, FeedRate

PEG_SINCE = datetime(1999, 1, 1, tzinfo=UTC)


class PegFeed:
    """A :class:`~lightway.integration.ratefeed.port.RateFeed` that never fails."""

    name = "peg"

    def fetch(self) -> FeedPublication:
        parity = Decimal(PEG_PARITY)
        return FeedPublication(
            "peg", PEG_SINCE, tuple(FeedRate("EUR", code, parity) for code in PEG_QUOTES)
        )
