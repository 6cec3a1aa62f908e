"""What a suspicious transaction report is made of, independent of where it comes from.

The AML case workflow (``lightway.application.aml``) produces these when a filing is
approved; the goAML export (``lightway.application.goaml``) turns them into XML.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SuspicionInput:
    case_reference: str  # the case's human reference, e.g. "AML-000012"
    reason: str  # the officer's narrative: why this is suspicious
    action: str  # what the platform did (account frozen, payment refused, ...)
    indicators: tuple[str, ...]  # platform indicators (AML rule kinds), mapped per FIU
    transfer_ids: tuple[uuid.UUID, ...]  # the transfers the report covers (Transfer.transfer_id)
    subject_user_ids: tuple[int, ...]  # the customers under suspicion (auth user ids)
    proposed_by: int  # staff user id who proposed the filing
    approved_by: int  # a different staff user id who approved it
    approved_at: datetime
