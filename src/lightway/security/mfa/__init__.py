"""Second factors: passkeys (WebAuthn credentials) beside django-otp's TOTP and backup codes."""
