"""Every schema of the API has a name of its own.

django-ninja names an OpenAPI component after its class, so two classes with the same name
in different modules become ONE component, and one endpoint is then documented (and
checked by clients and by the fuzz test) with the other's fields: the wallet statement was
documented with the commission statement's lines. The fuzz test found it only when its
random walk reached that endpoint; this test finds any such pair at once."""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

from ninja import Schema

import lightway.interfaces.api as api_package


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _all_subclasses(sub)
    return found


def test_no_two_api_schemas_share_a_name():
    for module in pkgutil.iter_modules(api_package.__path__):
        importlib.import_module(f"{api_package.__name__}.{module.name}")
    by_name: dict[str, set[str]] = defaultdict(set)
    for cls in _all_subclasses(Schema):
        if cls.__module__.startswith("lightway."):
            by_name[cls.__name__].add(f"{cls.__module__}.{cls.__qualname__}")
    clashes = {name: sorted(where) for name, where in by_name.items() if len(where) > 1}
    assert not clashes, clashes


def test_the_openapi_document_names_each_component_once():
    from lightway.interfaces.api.v1 import api

    schemas = api.get_openapi_schema()["components"]["schemas"]
    assert "CommissionStatementLineOut" in schemas
    wallet_line = schemas["StatementLineOut"]
    assert "transaction_kind" not in wallet_line.get("required", [])
