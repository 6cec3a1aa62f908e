"""The message catalogues of the translated pages (docs/panels.md, "Languages").

Strings are marked in the templates (``{% translate %}``, ``{% blocktranslate %}``) and in
Python (``gettext``, ``gettext_lazy``, ``gettext_noop``, ``pgettext``...). This module finds
them the way Django's ``makemessages`` does (templates through Django's ``templatize``) but
with Babel's extractor, so no GNU gettext is needed:

- :func:`catalogue_update` merges what the sources mark into
  ``src/lightway/locale/<lang>/LC_MESSAGES/django.po``, keeping the translations there
  (new strings arrive empty, strings no longer used are dropped);
- :func:`catalogue_compile` writes the ``django.mo`` Django reads, with Babel;
- :func:`catalogue_problems` lists what is wrong: a marked string without a translation,
  a fuzzy one, or a ``.mo`` that does not match its ``.po``.

``lightway messages update|compile|check`` and ``make messages`` run them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parent.parent  # src/lightway
LOCALE_DIR = PACKAGE / "locale"
LANGUAGES = ("fr",)  # English is the source language
DOMAIN = "django"

# Where marked strings live: every template of the panels and the package's Python code.
TEMPLATE_DIRS = (PACKAGE / "interfaces" / "panels" / "templates",)
SKIP_PARTS = {"migrations", "__pycache__", "locale", "static"}

KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}


@dataclass(frozen=True)
class Found:
    msgid: str | tuple[str, ...]
    context: str | None
    where: str


def _python_files() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if not SKIP_PARTS.intersection(path.relative_to(PACKAGE).parts):
            yield path


def _template_files() -> Iterator[Path]:
    for folder in TEMPLATE_DIRS:
        yield from sorted(folder.rglob("*.html"))
        yield from sorted(folder.rglob("*.txt"))


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE)) if path.is_relative_to(PACKAGE) else str(path)


def _extract(source: str, where: str) -> Iterator[Found]:
    for lineno, message, _comments, context in extract(
        "python", io.BytesIO(source.encode("utf-8")), keywords=KEYWORDS, comment_tags=()
    ):
        yield Found(message, context, f"{where}:{lineno}")


def marked_strings() -> list[Found]:
    """Every string the sources mark for translation, in source order."""
    from django.utils.translation.template import templatize

    found: list[Found] = []
    for path in _python_files():
        text = path.read_text("utf-8")
        if "gettext" not in text:
            continue
        found += _extract(text, _name(path))
    for path in _template_files():
        text = path.read_text("utf-8")
        if "translate" not in text:
            continue
        found += _extract(templatize(text, origin=str(path)), _name(path))
    return found


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def _template_catalogue() -> Catalog:
    catalogue = Catalog(project="LightWay MoMo", charset="utf-8")
    for item in marked_strings():
        if not item.msgid or (isinstance(item.msgid, tuple) and not item.msgid[0]):
            continue
        catalogue.add(item.msgid, locations=[(item.where.split(":")[0], 0)], context=item.context)
    return catalogue


def catalogue_read(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, project="LightWay MoMo", charset="utf-8")
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def _write_po(catalogue: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalogue, width=100, include_lineno=False, sort_output=True)
    path.write_bytes(buffer.getvalue())


def catalogue_update(language: str) -> tuple[int, int]:
    """Merge the marked strings into ``language``'s ``.po``; (strings, untranslated)."""
    catalogue = catalogue_read(language)
    created = catalogue.creation_date  # kept: an update with nothing new changes nothing
    catalogue.update(_template_catalogue(), no_fuzzy_matching=True)
    catalogue.creation_date = created
    catalogue.obsolete.clear()
    catalogue.fuzzy = False
    _write_po(catalogue, po_path(language))
    missing = sum(1 for m in catalogue if m.id and not _translated(m.string))
    return len([m for m in catalogue if m.id]), missing


def mo_bytes(language: str) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalogue_read(language), use_fuzzy=False)
    return buffer.getvalue()


def catalogue_compile(language: str) -> Path:
    path = mo_path(language)
    path.write_bytes(mo_bytes(language))
    return path


def _translated(string: object) -> bool:
    if isinstance(string, (tuple, list)):
        return all(bool(s) for s in string)
    return bool(string)


def catalogue_problems(language: str) -> list[str]:
    """What stops ``language`` from being complete (empty when all is well)."""
    catalogue = catalogue_read(language)
    problems = []
    for item in marked_strings():
        message = catalogue.get(item.msgid, context=item.context)
        msgid = item.msgid[0] if isinstance(item.msgid, tuple) else item.msgid
        if message is None:
            problems.append(f"{item.where}: {msgid!r} is not in {po_path(language).name}")
        elif not _translated(message.string):
            problems.append(f"{item.where}: {msgid!r} has no {language} translation")
        elif message.fuzzy:
            problems.append(f"{item.where}: {msgid!r} is marked fuzzy")
    if not mo_path(language).exists() or mo_path(language).read_bytes() != mo_bytes(language):
        problems.append(f"{mo_path(language)} does not match its .po: run `make messages`")
    return sorted(set(problems))
