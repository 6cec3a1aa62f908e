"""Domain errors of sign-in, sessions and step-up (mapped to HTTP in the API's errors.py)."""

from __future__ import annotations

from lightway.application.errors import DomainError


class LoginFailed(DomainError):
    """Unknown login or wrong password: one error for both (no account oracle)."""

    code = "login_failed"

    def __init__(self) -> None:
        super().__init__("the login or the password is wrong")


class TotpRequired(DomainError):
    code = "totp_required"

    def __init__(self) -> None:
        super().__init__(
            "this account uses an authenticator app: send the current 6-digit code as totp",
            details={"field": "totp"},
        )


class TotpInvalid(DomainError):
    code = "totp_invalid"

    def __init__(self) -> None:
        super().__init__("the authenticator code is wrong", details={"field": "totp"})


class StaffNotAllowed(DomainError):
    code = "staff_not_allowed"

    def __init__(self) -> None:
        super().__init__(
            "staff accounts cannot sign in to the API; use the staff panel with two-factor "
            "authentication"
        )


class LoginNotAllowed(DomainError):
    code = "login_not_allowed"


class ChallengeInvalid(DomainError):
    """A challenge id that is malformed, forged or expired."""

    code = "challenge_invalid"

    def __init__(self) -> None:
        super().__init__("the challenge is not valid or has expired; start again")


class CodeInvalid(DomainError):
    code = "code_invalid"

    def __init__(self) -> None:
        super().__init__("the code is wrong or has expired", details={"field": "code"})


class RefreshRejected(DomainError):
    code = "refresh_invalid"

    def __init__(self, message: str = "the refresh token is not valid; sign in again") -> None:
        super().__init__(message)


class SessionRequired(DomainError):
    code = "session_required"

    def __init__(self) -> None:
        super().__init__("this needs a mobile session (an access token from /auth/login)")


class TooManyAttempts(DomainError):
    """Locked by the lockout throttle; ``details.retry_after_seconds`` says for how long."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed attempts; try again in {retry_after} s",
            details={"retry_after_seconds": retry_after},
        )
        self.retry_after = retry_after


class StepUpRequired(DomainError):
    """A risky action needs an SMS code; the code was sent (details: challenge_id, ...)."""

    code = "step_up_required"


class StepUpRejected(DomainError):
    code = "step_up_invalid"

    def __init__(
        self, message: str = "the step-up code is wrong, expired or for another request"
    ) -> None:
        super().__init__(message, details={"header": "X-Step-Up-Code"})
