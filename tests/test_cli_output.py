"""What `lightway up` / `lightway seed-demo` print for the demo data (the README copies ids
from it, so every wallet id must stand alone on a line)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lightway.interfaces.cli.ops import seed_result_lines


@dataclass
class _Login:
    username: str
    password: str
    token: str
    role: str
    wallets: dict[str, str] = field(default_factory=dict)


@dataclass
class _Result:
    logins: list[_Login]
    created: int


def test_seed_lines_print_logins_then_one_line_per_wallet():
    result = _Result(
        logins=[
            _Login("admin", "pw", "lw_admin", "LightWay administrator"),
            _Login("amara", "pw", "lw_amara", "customer", {"UGX": "u-1", "GHS": "g-1"}),
        ],
        created=3,
    )
    lines = seed_result_lines(result)
    assert lines == [
        "Logins:",
        "  USERNAME  PASSWORD  TOKEN     ROLE",
        "  admin     pw        lw_admin  LightWay administrator",
        "  amara     pw        lw_amara  customer",
        "Wallets:",
        "  USERNAME  CURRENCY  WALLET ID",
        "  amara     UGX       u-1",
        "  amara     GHS       g-1",
        "Demo data: 3 new records created (users, wallets, balances, fees, rates)",
    ]


def test_seed_lines_without_wallets_print_no_wallet_table():
    lines = seed_result_lines(_Result(logins=[_Login("admin", "pw", "t", "staff")], created=0))
    assert "Wallets:" not in lines
    assert lines[0] == "Logins:"
    # A count without a word of what it counts ("Created: 67") is never printed.
    assert lines[-1] == "Demo data: already in place, nothing new created"


def test_seed_lines_of_plain_values():
    assert seed_result_lines(None) == []
    assert seed_result_lines({"created": 2, "notes": ["a", "b"]}) == [
        "Demo data: 2 new records created (users, wallets, balances, fees, rates)",
        "Notes:",
        "  - a",
        "  - b",
    ]
