"""The customer app in English and French (docs/panels.md, "Languages").

The catalogue guards: the committed ``.mo`` is what Babel compiles from the committed
``.po``, and every string the templates and the code mark has a French translation (so a
string added later without one fails here). Then the pages: a French customer, a browser
that asks for French, the language switch (before sign-in: a cookie; signed in: saved to
the profile, audited), staff pages and the API staying English, amounts and dates per
locale.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation

from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile
from lightway.infrastructure import messages
from lightway.interfaces.panels.templatetags.l10n_money import money_text
from tests.factories import customer, funded_wallet

LANG_RE = re.compile(r'<html lang="([a-z]+)">')


def _customer(username: str, now, *, language: str = "en", tier: int = 1) -> int:
    uid, _token = customer(
        username, now, tier=tier, country="CI", phone="+2250707123456", language=language
    )
    return uid


def _signed_in(uid: int) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(pk=uid))
    return client


def _lang(html: str) -> str:
    found = LANG_RE.search(html)
    assert found, "no <html lang>"
    return found.group(1)


# --- the catalogue -------------------------------------------------------------------------------


def test_the_committed_mo_is_the_compiled_po():
    for language in messages.LANGUAGES:
        assert messages.mo_path(language).read_bytes() == messages.mo_bytes(language), (
            f"{messages.mo_path(language)} is stale: run `make messages`"
        )


def test_every_marked_string_has_a_french_translation():
    found = messages.marked_strings()
    # The scan sees the templates and the Python code (it would pass on an empty list).
    wheres = {f.where.split(":")[0] for f in found}
    assert any(w.endswith("customer/home.html") for w in wheres)
    assert any(w.endswith("panels/forms.py") for w in wheres)
    assert any(w.endswith("onboarding/registration.py") for w in wheres)
    assert len(found) > 200
    assert messages.catalogue_problems("fr") == []


def test_a_string_marked_without_translation_is_reported(tmp_path, monkeypatch):
    """The guard itself: a template with a new marked string fails the check."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "new.html").write_text('{% load i18n %}<p>{% translate "A brand new sentence" %}</p>')
    monkeypatch.setattr(messages, "TEMPLATE_DIRS", (*messages.TEMPLATE_DIRS, folder))
    problems = messages.catalogue_problems("fr")
    assert any("A brand new sentence" in p and "not in django.po" in p for p in problems)


# --- pages ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_french_customer_sees_the_app_in_french(now):
    uid = _customer("awa", now, language="fr")
    funded_wallet(uid, "XOF", 1_500_000, now)
    html = _signed_in(uid).get("/app/").content.decode()
    assert _lang(html) == "fr"
    assert "Vos portefeuilles" in html and "Niveau de vérification" in html
    assert "Accueil" in html and "Se déconnecter" in html
    assert "1\u202f500\u202f000\xa0XOF" in html  # French grouping, the code after the amount
    assert "Your wallets" not in html


@pytest.mark.django_db
def test_a_french_customer_sees_the_money_and_momo_pages_in_french(now):
    uid = _customer("awa", now, language="fr")
    funded_wallet(uid, "XOF", 1_500_000, now)
    client = _signed_in(uid)
    nav = client.get("/app/").content.decode()
    assert ">Envoyer<" in nav and ">Historique<" in nav
    momo = client.get("/app/momo/").content.decode()
    assert "Déposer depuis MoMo" in momo and "Aucun paiement pour le moment." in momo
    assert "Deposit from MoMo" not in momo and "No payments yet." not in momo
    withdraw = client.get("/app/momo/withdraw/").content.decode()
    assert "Retirer vers MoMo" in withdraw and "Continuer" in withdraw
    assert "disponible" in withdraw and "available" not in withdraw
    send = client.get("/app/send/").content.decode()
    assert "Envoyer de l\u2019argent" in send and "Send money" not in send


@pytest.mark.django_db
def test_an_english_customer_keeps_english_whatever_the_browser_says(now):
    uid = _customer("kofi", now, language="en")
    funded_wallet(uid, "XOF", 1_500_000, now)
    html = _signed_in(uid).get("/app/", HTTP_ACCEPT_LANGUAGE="fr-CI,fr;q=0.9").content.decode()
    assert _lang(html) == "en"
    assert "Your wallets" in html and "XOF 1,500,000" in html


@pytest.mark.django_db
def test_a_browser_asking_for_french_gets_french_before_sign_in():
    client = Client(HTTP_ACCEPT_LANGUAGE="fr-CM,fr;q=0.9,en;q=0.5")
    response = client.get("/app/login/")
    html = response.content.decode()
    assert _lang(html) == "fr"
    assert "Se connecter" in html and "Mot de passe oublié ?" in html
    assert "Numéro de mobile" in html and "Cameroun (+237)" in html
    assert response["Content-Language"] == "fr"
    assert "Accept-Language" in response["Vary"]
    # bad input: the errors are French too, beside their fields, and what was typed stays
    response = client.post("/app/login/", {"country": "CM", "phone": "call me", "password": "x"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Veuillez vérifier le formulaire" in html
    assert "n\u2019est pas un numéro de téléphone" in html  # from the application layer
    assert 'value="call me"' in html


@pytest.mark.django_db
def test_the_switch_before_sign_in_sets_a_cookie_and_returns_to_the_page():
    client = Client()
    assert _lang(client.get("/app/register/").content.decode()) == "en"
    response = client.post("/app/language/", {"language": "fr", "next": "/app/register/"})
    assert response.status_code == 302 and response["Location"] == "/app/register/"
    html = client.get("/app/register/").content.decode()
    assert _lang(html) == "fr" and "Créez votre compte LightWay" in html
    # the registration form offers the page's language first
    assert re.search(r'<option value="fr" selected>', html)
    # an address elsewhere is not followed
    response = client.post("/app/language/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/app/"


@pytest.mark.django_db
def test_the_switch_when_signed_in_saves_the_language_to_the_profile(now):
    uid = _customer("ama", now, language="en")
    client = _signed_in(uid)
    client.post("/app/language/", {"language": "fr", "next": "/app/wallets/"})
    assert Profile.objects.get(user_id=uid).language == "fr"  # SMS follow it too
    record = AuditRecord.objects.get(action="user.language_set")
    assert record.actor == f"user:{uid}" and record.data["language"] == "fr"
    assert "Portefeuilles" in client.get("/app/wallets/").content.decode()
    # another device (a new session) finds the choice on the profile
    assert _lang(_signed_in(uid).get("/app/").content.decode()) == "fr"


@pytest.mark.django_db
def test_staff_pages_and_the_api_stay_english(now, admin_client):
    html = admin_client.get("/staff/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert _lang(html) == "en" and "Skip to content" in html
    # a French page does not leave French behind on the thread for the next request
    Client(HTTP_ACCEPT_LANGUAGE="fr").get("/app/login/")
    assert translation.get_language() == "en"
    response = Client().post(
        "/api/v1/auth/login",
        data={"login": "x"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code in (400, 401, 422)
    assert "é" not in response.content.decode()


@pytest.mark.django_db
def test_the_tier_label_never_names_the_vendor(now):
    """Small defect: the tier label showed the vendor's name ("Sumsub verified")."""
    uid = _customer("yao", now, tier=3)
    for path in ("/app/", "/app/kyc/"):
        html = _signed_in(uid).get(path).content.decode()
        label = re.search(r'data-testid="tier-label">([^<]*)<', html)
        assert label and label.group(1) == "Identity verified", path
        assert "Sumsub verified" not in html
    Profile.objects.filter(user_id=uid).update(language="fr")
    html = _signed_in(uid).get("/app/").content.decode()
    assert 'data-testid="tier-label">Identité vérifiée<' in html


# --- amounts and dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "code", "language", "text"),
    [
        (1_500_000, "UGX", "en", "UGX 1,500,000"),
        (1_500_000, "UGX", "fr", "1\u202f500\u202f000\xa0UGX"),
        (123_456, "GHS", "en", "GHS 1,234.56"),
        (123_456, "GHS", "fr", "1\u202f234,56\xa0GHS"),
        (250, "XAF", "fr", "250\xa0XAF"),
        (5, "USD", "en", "USD 0.05"),
        (0, "XOF", "en", "XOF 0"),
    ],
)
def test_money_follows_the_locale_and_the_currency_exponent(minor, code, language, text):
    assert money_text(minor, code, language) == text


def test_english_money_is_what_money_format_gives():
    from lightway.data.money import Money

    for minor, code in [(1_500_000, "UGX"), (123_456, "GHS"), (99, "EUR"), (7, "XAF")]:
        assert money_text(minor, code, "en") == Money.of(minor, code).format()
