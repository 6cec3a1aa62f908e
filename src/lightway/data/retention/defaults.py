"""The default retention policies (seeded by migration 0003, and by ``lightway seed-demo``
for a database emptied since): class, country, years, days and the legal source."""

from datetime import UTC, date, datetime

START = date(2020, 1, 1)
RECORDED = datetime(2020, 1, 1, tzinfo=UTC)

DEFAULT_SOURCE = (
    "LightWay default: 10 years (compliance.md §3; the longest AML period in our markets)"
)
UG = "Uganda AMLA 2013 (Cap 118) s.7: 10 years (compliance.md §3, medium confidence)"
GH = "Ghana AML Act 2020 (Act 1044) s.32: 5 years, then PRAAD transfer (compliance.md §3)"
RW = "Rwanda Law 74/2019: 5 years minimum (compliance.md §3, low confidence)"
MINIMISATION = (
    "Data minimisation: Uganda DPPA 2019, Ghana DPA 2012 (compliance.md §4); LightWay policy"
)

# (data class, country, years, days, source)
POLICIES = [
    ("ledger", "", 10, 0, DEFAULT_SOURCE),
    ("transactions", "", 10, 0, DEFAULT_SOURCE),
    ("aml_records", "", 10, 0, DEFAULT_SOURCE),
    ("kyc", "", 10, 0, DEFAULT_SOURCE),
    ("personal_data", "", 10, 0, DEFAULT_SOURCE),
    ("audit_records", "", 10, 0, DEFAULT_SOURCE),
    ("momo_callbacks", "", 10, 0, DEFAULT_SOURCE),
    ("notification_log", "", 2, 0, MINIMISATION),
    ("web_sessions", "", 0, 30, MINIMISATION),
    ("aml_records", "UG", 10, 0, UG),
    ("kyc", "UG", 10, 0, UG),
    ("personal_data", "UG", 10, 0, UG),
    ("aml_records", "GH", 5, 0, GH),
    ("kyc", "GH", 5, 0, GH),
    ("personal_data", "GH", 5, 0, GH),
    ("aml_records", "RW", 5, 0, RW),
    ("kyc", "RW", 5, 0, RW),
    ("personal_data", "RW", 5, 0, RW),
]


def policies_seed(policy_model) -> int:  # type: ignore[no-untyped-def]
    """Insert the defaults that are missing (idempotent); how many were added."""
    added = 0
    for data_class, country, years, days, source in POLICIES:
        _, created = policy_model.objects.get_or_create(
            data_class=data_class,
            country=country,
            effective_from=START,
            defaults={
                "years": years,
                "days": days,
                "legal_source": source,
                "created_at": RECORDED,
                "created_by": "migration",
            },
        )
        added += int(created)
    return added
