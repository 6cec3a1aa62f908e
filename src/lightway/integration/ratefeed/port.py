"""The rate-feed port: what every feed returns and the errors it raises.

A feed answers one :class:`FeedPublication`: the rates it publishes now, each "how many
``quote`` one ``base`` is worth" as an exact ``Decimal`` mid rate (never a float), with the
moment the source says they were true (``as_of``). Feeds carry mid rates only: the spread
the platform charges on a feed rate comes from configuration per pair
(``LIGHTWAY_FX_SPREAD_BPS``), not from the feed.

Errors: :class:`FeedUnavailable` (timeouts, connection failures, HTTP 5xx or 429: try again
at the next run) and :class:`FeedMalformed` (the answer is not a publication we can trust:
refused as a whole, nothing of it is imported). Messages never carry the response body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


class FeedError(Exception):
    """A feed could not give a usable publication."""

    retryable = False


class FeedUnavailable(FeedError):
    """Timeouts, connection failures, HTTP 5xx/429, refused credentials: nothing read."""

    retryable = True


class FeedMalformed(FeedError):
    """The answer is not a publication in the feed's documented format."""


class FeedNotConfigured(FeedError):
    """The feed has no base URL (or an unacceptable one) configured."""


@dataclass(frozen=True, slots=True)
class FeedRate:
    base: str
    quote: str
    mid: Decimal


@dataclass(frozen=True, slots=True)
class FeedPublication:
    feed: str  # the feed's name, also the ``source`` of the rates it gives ("ecb", ...)
    as_of: datetime  # aware
    rates: tuple[FeedRate, ...]


class RateFeed(Protocol):
    name: str

    def fetch(self) -> FeedPublication:
        """The feed's current publication; raises a :class:`FeedError`."""
        ...


# A publication larger than this is refused before it is parsed.
MAX_BODY_BYTES = 256 * 1024
