"""``/.well-known/lightway-audit-key.pem``: the public key(s) that verify the audit trail's
signed checkpoints (docs/security.md, "Signed checkpoints").

The first PEM block is the current signing key; any further ones are the older keys listed
in ``LIGHTWAY_AUDIT_VERIFY_KEYS`` (key rotation). Public: an auditor needs no account.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from lightway.security.audit_signing import public_pem, signing_key, verify_keys


@require_GET
def audit_public_key(request: HttpRequest) -> HttpResponse:
    current = signing_key()
    blocks = [public_pem(current.public)]
    blocks += [
        public_pem(key) for kid, key in sorted(verify_keys().items()) if kid != current.key_id
    ]
    response = HttpResponse("".join(blocks), content_type="application/x-pem-file")
    response["X-Audit-Key-Id"] = current.key_id
    response["Cache-Control"] = "public, max-age=300"
    return response
