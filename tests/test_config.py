"""DATABASE_URL ⇄ Django connection settings, both ways (TCP hosts and socket directories)."""

from __future__ import annotations

import pytest

from lightway.infrastructure.config import database_from_url, url_from_database


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/lightway",
        "postgresql://app:s%40cret%2Fx@db.internal:6543/lw_prod",
        "postgresql://postgres@:5433/test_lightway_gw1?host=/srv/lightway/var/pg",
    ],
)
def test_url_round_trips(url: str) -> None:
    settings = database_from_url(url)
    assert url_from_database(settings) == url
    assert database_from_url(url_from_database(settings)) == settings


def test_socket_directory_goes_into_the_query() -> None:
    settings = database_from_url("postgresql://postgres@/lw?host=/tmp/pg sock")
    assert settings["HOST"] == "/tmp/pg sock" and settings["NAME"] == "lw"
    url = url_from_database(settings)
    assert url == "postgresql://postgres@:5432/lw?host=/tmp/pg%20sock"
    assert database_from_url(url)["HOST"] == "/tmp/pg sock"


def test_defaults_fill_missing_parts() -> None:
    assert url_from_database({"NAME": "x"}) == "postgresql://postgres@127.0.0.1:5432/x"


def test_a_non_postgresql_url_is_refused_with_its_scheme() -> None:
    with pytest.raises(ValueError, match="'mysql'"):
        database_from_url("mysql://root@localhost/x")


def test_server_side_binding_is_opt_in(monkeypatch):
    url = "postgresql://postgres@127.0.0.1:5432/lw"
    monkeypatch.delenv("DB_SERVER_SIDE_BINDING", raising=False)
    assert database_from_url(url)["OPTIONS"] == {}
    monkeypatch.setenv("DB_SERVER_SIDE_BINDING", "1")
    assert database_from_url(url)["OPTIONS"] == {"server_side_binding": True}
