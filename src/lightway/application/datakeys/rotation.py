"""Data-key rotation: re-seal every encrypted column under the current key.

Each encrypted column is registered once below with the function that gives its
associated data (context) from the row. ``keys_rotate`` walks each table in primary-key
batches; a batch's rows are locked (``FOR UPDATE``), re-sealed and written back in one
transaction, so a concurrent writer never loses an update and an interrupted rotation can
simply be run again (values already under the current key are skipped). ``keys_status``
counts values per key version, which tells when an old key can leave the configuration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import transaction

from lightway.application.identity.profiles import PII_FIELDS, pii_context
from lightway.data.audit.services import audit_record
from lightway.security.crypto import (
    is_person_sealed,
    is_sealed,
    key_version,
    keyring,
    person_seal,
    reencrypt,
    seal,
    unseal,
)
from lightway.security.personkeys import person_key_context, person_key_ensure


@dataclass(frozen=True)
class EncryptedColumn:
    model: str  # "app_label.Model"
    column: str
    context: Callable[[Any], str]
    # A raw-payload column that held clear bytes before sealing existed (MoMo callbacks,
    # Sumsub webhooks): rotation seals such values (``keys_status`` counts them "clear").
    seals_clear: bool = False
    # Personal data of one person (``row -> user id``, None for a row of nobody): sealed with
    # that person's own key (``lightway.security.personkeys``). Rotation moves a value still
    # sealed under a KEK to the person's key (the re-seal of data written before per-person
    # keys existed); a value already under the person's key stays as it is (rotating the
    # KEK re-wraps the person's key instead).
    person: str | None = None  # the row's attribute holding the user id ("user_id")


CLEAR = "clear"


def _version(col: EncryptedColumn, blob: bytes) -> str:
    if col.seals_clear and not is_sealed(blob):
        return CLEAR
    return key_version(blob)


def _reseal(col: EncryptedColumn, row: Any, now: datetime) -> bytes | None:
    blob = bytes(getattr(row, col.column))
    if col.seals_clear and not is_sealed(blob):
        return seal(blob, context=col.context(row))
    if col.person is not None and not is_person_sealed(blob):
        user_id = getattr(row, col.person)
        if user_id is not None:
            key = person_key_ensure(user_id=user_id, now=now)
            if key is not None:
                context = col.context(row)
                clear = unseal(blob, context=context)
                return person_seal(clear, key=key, user_id=user_id, context=context)
    return reencrypt(blob, context=col.context(row))


def _profile_column(field: str) -> EncryptedColumn:
    def context(row: Any) -> str:
        return pii_context(field, row.user_id)

    return EncryptedColumn("identity.Profile", f"{field}_ct", context, person="user_id")


ENCRYPTED_COLUMNS: list[EncryptedColumn] = [
    *(_profile_column(f) for f in PII_FIELDS),
    # The per-person keys themselves, wrapped by the KEK (a destroyed key is NULL: skipped).
    EncryptedColumn(
        "identity.PersonKey", "key_ct", lambda row: person_key_context(int(row.user_id))
    ),
]


def encrypted_column_register(column: EncryptedColumn) -> None:
    """Other packages register their encrypted columns here (at import time)."""
    if all((c.model, c.column) != (column.model, column.column) for c in ENCRYPTED_COLUMNS):
        ENCRYPTED_COLUMNS.append(column)


# Modules that register encrypted columns when imported (they import this module, so they
# are loaded lazily here rather than imported at the top).
_REGISTERING_MODULES = (
    "lightway.application.notifications.service",
    "lightway.application.authentication.sessions",
    "lightway.application.authentication.mfa",
    "lightway.application.partners.keys",
    "lightway.application.integrations.keys",
    "lightway.application.momo.flows",
    "lightway.application.momo.callbacks",
    "lightway.application.kyc.verification",
    "lightway.application.goaml.service",
    "lightway.application.aml.sanctions",
)


def encrypted_columns() -> list[EncryptedColumn]:
    """Every registered encrypted column (importing the modules that register theirs)."""
    import importlib

    for name in _REGISTERING_MODULES:
        importlib.import_module(name)
    return list(ENCRYPTED_COLUMNS)


@dataclass
class RotationResult:
    examined: int = 0
    resealed: int = 0
    by_column: dict[str, int] | None = None


def keys_status() -> dict[str, Counter[str]]:
    """Per column ("identity.Profile.phone_ct"), the number of values per key version."""
    out: dict[str, Counter[str]] = {}
    for col in encrypted_columns():
        model = apps.get_model(col.model)
        counts: Counter[str] = Counter()
        rows = model.objects.exclude(**{f"{col.column}__isnull": True}).values_list(
            col.column, flat=True
        )
        for blob in rows.iterator(chunk_size=2000):
            counts[_version(col, bytes(blob))] += 1
        out[f"{col.model}.{col.column}"] = counts
    return out


def keys_rotate(
    *,
    now: datetime,
    batch: int = 500,
    progress: Callable[[int, int, str], None] | None = None,
    person_only: bool = False,
    user_id: int | None = None,
) -> RotationResult:
    """Re-seal every registered column (``person_only``: only the columns of personal data
    sealed per person, moving values written before per-person keys to them)."""
    result = RotationResult(by_column={})
    current = keyring().current
    for col in encrypted_columns():
        if person_only and col.person is None:
            continue
        model = apps.get_model(col.model)
        pk = model._meta.pk.attname
        base = model.objects.exclude(**{f"{col.column}__isnull": True})
        if user_id is not None:
            if col.person is None:
                continue
            base = base.filter(**{col.person: user_id})
        total = base.count()
        done = resealed = 0
        last: Any = None
        while True:
            with transaction.atomic():
                qs = base.order_by(pk)
                if last is not None:
                    qs = qs.filter(**{f"{pk}__gt": last})
                rows = list(qs.select_for_update()[:batch])
                if not rows:
                    break
                changed = []
                for row in rows:
                    new = _reseal(col, row, now)
                    if new is not None:
                        setattr(row, col.column, new)
                        changed.append(row)
                if changed:
                    model.objects.bulk_update(changed, [col.column])
                last = getattr(rows[-1], pk)
            done += len(rows)
            resealed += len(changed)
            if progress:
                progress(done, total, f"{col.model}.{col.column}")
        result.examined += done
        result.resealed += resealed
        assert result.by_column is not None
        result.by_column[f"{col.model}.{col.column}"] = resealed
    if user_id is not None:
        return result  # one person's values, inside the caller's erasure (audited there)
    with transaction.atomic():
        audit_record(
            actor="system",
            action="keys.reseal_person" if person_only else "keys.rotate",
            object_type="security.data_key",
            object_id=current,
            data={"examined": result.examined, "resealed": result.resealed},
            now=now,
        )
    return result
