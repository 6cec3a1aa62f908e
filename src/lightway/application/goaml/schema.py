"""The FIU's XSD: loading it, validating a file against it, reading its lookup lists.

Two schemas ship in ``schemas/`` (provenance in ``schemas/SOURCE.txt``; the files are
byte-for-byte copies and are never edited):

- **goAML 5.0.2 (UAE FIU)**. It declares ``vc:minVersion="1.1"``, so it is loaded with
  ``xmlschema.XMLSchema11``: an XSD 1.0 processor honours the versioning attribute, skips
  the whole schema and then reports ``report`` as an unknown element. The file also writes
  26 name patterns as ``^[a-zA-Z0-9 .'-]*$``. In W3C XSD regular expressions ``^`` and
  ``$`` are ordinary characters (a pattern always matches the whole value), so a strict
  validator would demand that every name literally starts with ``^`` and ends with ``$``;
  the FIU meant them as anchors. :func:`_strip_anchors` removes exactly that leading ``^``
  and trailing ``$`` of each ``xs:pattern`` value, in memory, at load time; the shipped file
  stays as the FIU published it (its SHA-256 is in SOURCE.txt).
- **goAML 4.0.2 (PPATK)**. Plain XSD 1.0. ``xmlschema`` refuses it (its email pattern
  ``[_a-zA-Z0-9-+]`` has an unescaped ``-``, which XSD 1.1's regex grammar rejects); libxml2
  (``lxml.etree.XMLSchema``) loads and applies it as written, so it is validated with lxml.

Which engine a schema needs is read from the file itself (an XSD declaring
``vc:minVersion="1.1"`` goes to xmlschema 1.1), so an FIU configuration only names the
file. Loaded schemas are cached per process (loading the 5.0.2 one takes about a second).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Protocol

import xmlschema
from lxml import etree

from lightway.application.errors import ValidationFailed

XS = "http://www.w3.org/2001/XMLSchema"
VC = "http://www.w3.org/2007/XMLSchema-versioning"
SCHEMA_PACKAGE = "lightway.application.goaml.schemas"
SHIPPED_SCHEMAS: dict[str, str] = {
    "goAMLSchema-5.0.2-uae-fiu.xsd": "5.0.2",
    "goAMLSchema-4.0.2-ppatk.xsd": "4.0.2",
}
MAX_VIOLATIONS = 50  # listed in an error; the count says how many there were in all

# ``value="^...$"`` of an xs:pattern: the leading ^ and trailing $ only, nothing inside.
_ANCHORED_PATTERN = re.compile(r'(<xs:pattern\s+value=")\^([^"]*)\$(")')


class SchemaInvalid(ValidationFailed):
    """A generated file does not validate against the FIU's XSD: it is not released."""

    code = "goaml_schema_invalid"

    def __init__(self, xsd_file: str, violations: list[str]) -> None:
        shown = violations[:MAX_VIOLATIONS]
        more = len(violations) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        super().__init__(
            f"the file does not validate against {xsd_file} ({len(violations)} violation(s)),"
            f" so it was not released: {text}",
            details={"xsd_file": xsd_file, "violations": shown, "count": len(violations)},
        )
        self.violations = violations


class _Validator(Protocol):
    def violations(self, document: bytes) -> list[str]: ...


def schema_bytes(xsd_file: str) -> bytes:
    if xsd_file not in SHIPPED_SCHEMAS:
        known = ", ".join(sorted(SHIPPED_SCHEMAS))
        raise ValidationFailed(f"unknown goAML schema file {xsd_file!r} (shipped: {known})")
    return resources.files(SCHEMA_PACKAGE).joinpath(xsd_file).read_bytes()


def _strip_anchors(text: str) -> tuple[str, int]:
    return _ANCHORED_PATTERN.subn(r"\1\2\3", text)


def _needs_xsd11(raw: bytes) -> bool:
    root = etree.fromstring(raw)
    return bool(root.get(f"{{{VC}}}minVersion") == "1.1")


@dataclass(frozen=True)
class _Xsd11Validator:
    schema: xmlschema.XMLSchema11

    def violations(self, document: bytes) -> list[str]:
        try:
            resource = xmlschema.XMLResource(document)
        except (xmlschema.XMLResourceError, etree.XMLSyntaxError, SyntaxError) as exc:
            return [f"not well-formed XML: {exc}"]
        found = []
        for error in self.schema.iter_errors(resource):
            path = error.path or "/"
            found.append(f"{path}: {error.reason or error.message}")
        return found


@dataclass(frozen=True)
class _LxmlValidator:
    schema: etree.XMLSchema

    def violations(self, document: bytes) -> list[str]:
        try:
            tree = etree.fromstring(document, etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError as exc:
            return [f"not well-formed XML: {exc}"]
        if self.schema.validate(tree):
            return []
        return [f"line {e.line}: {e.message}" for e in self.schema.error_log]


@cache
def _validator(xsd_file: str) -> _Validator:
    raw = schema_bytes(xsd_file)
    if _needs_xsd11(raw):
        text, _stripped = _strip_anchors(raw.decode("utf-8-sig"))
        return _Xsd11Validator(xmlschema.XMLSchema11(text))
    return _LxmlValidator(etree.XMLSchema(etree.fromstring(raw)))


def schema_violations(*, xsd_file: str, document: bytes) -> list[str]:
    """Every way ``document`` breaks the FIU's schema (empty when it validates)."""
    return _validator(xsd_file).violations(document)


def schema_validate(*, xsd_file: str, document: bytes) -> None:
    """Raise :class:`SchemaInvalid`, listing the violations, unless ``document`` validates."""
    violations = schema_violations(xsd_file=xsd_file, document=document)
    if violations:
        raise SchemaInvalid(xsd_file, violations)


@cache
def schema_enumeration(xsd_file: str, type_name: str) -> frozenset[str]:
    """The values of a named simple type's ``xs:enumeration`` (a lookup list: report_type,
    funds_type, report_indicator_type, ...), read from the XSD itself."""
    root = etree.fromstring(schema_bytes(xsd_file))
    values = root.xpath(
        "/xs:schema/xs:simpleType[@name=$name]//xs:enumeration/@value",
        namespaces={"xs": XS},
        name=type_name,
    )
    return frozenset(str(v) for v in values)


@cache
def schema_max_length(xsd_file: str, element: str, parent_type: str) -> int | None:
    """The ``xs:maxLength`` of an element declared inside a named complex type."""
    root = etree.fromstring(schema_bytes(xsd_file))
    values = root.xpath(
        "/xs:schema/xs:complexType[@name=$parent]//xs:element[@name=$name][1]//xs:maxLength/@value",
        namespaces={"xs": XS},
        parent=parent_type,
        name=element,
    )
    return int(values[0]) if values else None
