"""Shared fixtures. Tests run against real PostgreSQL (DATABASE_URL, else the embedded one)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
