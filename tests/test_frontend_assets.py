"""The panels' front-end libraries: pinned from the npm registry, found by Django's static
files, served by the site itself (no CDN), and the lock file records no registry host."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders

ROOT = Path(__file__).resolve().parent.parent


def test_the_lock_pins_every_library_without_a_registry_host() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    text = (ROOT / "package-lock.json").read_text()
    assert "registry.npmjs.org" not in text and '"resolved"' not in text
    wanted = {**package["dependencies"], **package.get("devDependencies", {})}
    for name, version in wanted.items():
        assert version[0].isdigit(), f"{name} must be pinned to one version, not {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_each_library_is_a_static_file_of_the_site() -> None:
    for path in ("vendor/htmx/htmx.min.js", "vendor/chartjs/chart.umd.min.js"):
        found = finders.find(path)
        assert found, f"{path} is not found: run `make install` (npm ci)"
        assert Path(found).is_relative_to(Path(settings.NODE_MODULES).resolve()) or (
            "node_modules" in str(found)
        )


def test_pages_load_htmx_from_this_site(client) -> None:
    page = client.get("/app/login/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    assert "https://" not in html.split("<body")[0]
    assert '"allowEval": false' in html
