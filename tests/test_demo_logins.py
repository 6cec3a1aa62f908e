"""The demo logins the README and the `lightway up` banner give are the ones that work: a
customer signs in with a country and a phone number (never a user name), staff with a user
name and then a second factor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone

from lightway.application.demo import demo_seed
from lightway.interfaces.cli.runner import SimulatorsUp, banner_lines

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[1] / "README.md"
COUNTRIES = {"Uganda": "UG", "Ghana": "GH", "Cameroon": "CM"}


def _customer_signs_in(client, country: str, phone: str, password: str) -> bool:
    client.logout()
    answer = client.post("/app/login/", {"country": country, "phone": phone, "password": password})
    return answer.status_code == 302 and not answer["Location"].startswith("/app/login/?")


def _staff_reaches_the_second_factor(client, username: str, password: str) -> bool:
    client.logout()
    answer = client.post("/staff/login/", {"username": username, "password": password})
    return answer.status_code == 302 and answer["Location"].startswith("/staff/mfa/")


@pytest.fixture
def seeded():
    return demo_seed(now=timezone.now())


def test_the_readme_logins_work(seeded, client):
    text = README.read_text()
    section = text[text.index("## The demo logins") :]
    section = section[: section.index("\n## ", 3)]
    password = re.search(r"password `([^`]+)`", section).group(1)
    customers = re.findall(r"(\w+),\s+\*(\w+)\*,\s+`([^`]+)`\s+\(or\s+`(\+\d+)`\)", section)
    assert [name for name, *_ in customers] == ["Amara", "Kofi", "Grace"], section
    for _name, country, national, international in customers:
        for phone in (national, international):
            assert _customer_signs_in(client, COUNTRIES[country], phone, password), phone
    # Not with the user name the README used to give.
    assert not _customer_signs_in(client, "UG", "amara", password)
    staff = re.findall(r"`(\w+)`", section[section.index("**Staff**") :])
    for username in ("admin", "ops", "finance", "mtn", "mtnadmin", "mtnfinance"):
        assert username in staff
        assert _staff_reaches_the_second_factor(client, username, password), username
    # The README's walk-through signs Amara in the same way.
    assert "sign in as `amara`" not in text


def test_the_banner_logins_work(seeded, client, tmp_path):
    lines = banner_lines(
        "http://127.0.0.1:8000",
        seed=seeded,
        simulators=SimulatorsUp(started={}, real={}, environment={}),
        log_file=tmp_path / "lightway.log",
        metrics_token="t",
    )
    banner = "\n".join(lines)
    password = re.search(r"password (\S+) for all", banner).group(1)
    customers = re.findall(r"^\s+(\w+)\s+(Uganda|Ghana|Cameroon)\s+(\+\d+)", banner, re.M)
    assert len(customers) == 3, banner
    for _name, country, phone in customers:
        assert _customer_signs_in(client, COUNTRIES[country], phone, password), phone
    staff = re.search(r"LightWay staff: (.+)", banner).group(1).split()
    staff += re.search(r"MTN staff: +(.+)", banner).group(1).split()
    assert len(staff) == 10, banner
    for username in staff:
        assert _staff_reaches_the_second_factor(client, username, password), username
    assert "demo-totp USERNAME" in banner
    assert not re.search(r"Created: \d", banner)  # counts come with words
