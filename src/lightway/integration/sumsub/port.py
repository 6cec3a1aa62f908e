"""The KYC provider port: what use cases need from Sumsub, and its typed errors.

The application layer depends on :class:`KycProvider`; ``client.SumsubClient`` implements it
over HTTPS, and runs against ``simulator.SumsubSimulator`` in tests and in ``lightway up``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Review:
    """The ``review`` object of an applicant (``GET .../status`` returns the same fields).

    ``review_answer`` (``GREEN``/``RED``) only means something when ``review_status`` is
    ``completed``. ``moderation_comment`` may be shown to the user, ``client_comment`` not.
    """

    review_status: str
    review_answer: str | None = None
    reject_type: str | None = None
    reject_labels: tuple[str, ...] = ()
    moderation_comment: str | None = None
    client_comment: str | None = None
    level_name: str | None = None
    review_id: str | None = None
    attempt_id: str | None = None
    attempt_cnt: int | None = None
    create_date: str | None = None
    review_date: str | None = None

    @property
    def completed(self) -> bool:
        return self.review_status == "completed"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Review:
        result = data.get("reviewResult") or {}
        labels = result.get("rejectLabels") or []
        return cls(
            review_status=str(data.get("reviewStatus") or "init"),
            review_answer=result.get("reviewAnswer"),
            reject_type=result.get("reviewRejectType"),
            reject_labels=tuple(str(label) for label in labels),
            moderation_comment=result.get("moderationComment"),
            client_comment=result.get("clientComment"),
            level_name=data.get("levelName"),
            review_id=data.get("reviewId"),
            attempt_id=data.get("attemptId"),
            attempt_cnt=data.get("attemptCnt"),
            create_date=data.get("createDate"),
            review_date=data.get("reviewDate"),
        )


@dataclass(frozen=True)
class Applicant:
    id: str
    external_user_id: str | None
    level_name: str | None
    created_at: str | None
    review: Review
    type: str = "individual"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Applicant:
        review = data.get("review") or {}
        return cls(
            id=str(data["id"]),
            external_user_id=data.get("externalUserId"),
            level_name=review.get("levelName") or data.get("levelName"),
            created_at=data.get("createdAt"),
            review=Review.from_json(review),
            type=str(data.get("type") or "individual"),
        )


@dataclass(frozen=True)
class AccessToken:
    """A WebSDK / MobileSDK access token (``_act-...``), bound to one applicant."""

    token: str
    user_id: str
    ttl_seconds: int = 600


class SumsubError(Exception):
    """An error answer (or no answer) from Sumsub.

    ``status`` is the HTTP status (0 when the request never got an answer), ``code`` the
    Sumsub ``errorCode`` (e.g. 4003), ``error_name`` its ``errorName``, ``description`` the
    human text and ``correlation_id`` the id to quote to Sumsub support.
    """

    def __init__(
        self,
        status: int,
        code: int | None = None,
        error_name: str | None = None,
        description: str = "",
        correlation_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.error_name = error_name
        self.description = description
        self.correlation_id = correlation_id
        super().__init__(
            f"Sumsub error {status}"
            + (f"/{code}" if code is not None else "")
            + (f" {error_name}" if error_name else "")
            + (f": {description}" if description else "")
        )


class SumsubConflict(SumsubError):
    """409: a state conflict, or a duplicate ``externalUserId`` (then ``existing_applicant_id``)."""

    def __init__(self, *args: Any, existing_applicant_id: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.existing_applicant_id = existing_applicant_id


class SumsubRateLimited(SumsubError):
    """429: throttled; ``retry_after`` seconds to wait (from ``Retry-After``, else a guess)."""

    def __init__(self, *args: Any, retry_after: float = 1.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class SumsubUnauthorized(SumsubError):
    """401: unknown app token, or a signature Sumsub refused (``code`` 4003)."""


class SumsubNotFound(SumsubError):
    """404: no such applicant (or level)."""


class SumsubUnavailable(SumsubError):
    """No usable answer: connection failure, timeout or a 5xx. Safe to retry later."""


@dataclass(frozen=True)
class NewApplicant:
    """What the platform asserts when it creates an applicant.

    ``external_user_id`` is an opaque platform reference (the profile's subject), never a
    phone number or email address; ``phone``/``email`` travel in the body only.
    """

    external_user_id: str
    level_name: str
    phone: str | None = None
    email: str | None = None
    lang: str | None = None
    fixed_info: dict[str, Any] = field(default_factory=dict)


class KycProvider(Protocol):
    """What the platform needs from a KYC provider (Sumsub's applicant model)."""

    def applicant_create(self, *, applicant: NewApplicant) -> Applicant:
        """Create the applicant; on a duplicate ``externalUserId`` return the existing one."""
        ...

    def applicant_get(self, *, applicant_id: str) -> Applicant: ...

    def applicant_find(self, *, external_user_id: str) -> Applicant: ...

    def applicant_status(self, *, applicant_id: str) -> Review: ...

    def access_token_sdk(
        self, *, external_user_id: str, level_name: str, ttl_seconds: int = 600
    ) -> AccessToken: ...

    def applicant_reset(self, *, applicant_id: str) -> None: ...

    def applicant_test_completed(
        self,
        *,
        applicant_id: str,
        review_answer: str,
        reject_labels: Sequence[str] = (),
        reject_type: str | None = None,
        moderation_comment: str | None = None,
        client_comment: str | None = None,
    ) -> None:
        """Sandbox only: set a review result as if a reviewer had decided."""
        ...

    def websdk_link(
        self, *, external_user_id: str, level_name: str, ttl_seconds: int = 600, lang: str = "en"
    ) -> str:
        """A hosted WebSDK page for the user (Sumsub's ``websdkLink``)."""
        ...

    def websdk_url(self, *, token: str) -> str | None:
        """The simulator's WebSDK page for ``token``; None with the real Sumsub."""
        ...
