"""``{% load chart_json %}``: ``data-chart-config="{{ config|chart_json }}"`` puts a Chart.js
configuration on its canvas as JSON (escaped like any attribute value). For charts inside a
fragment that HTMX swaps in: HTMX drops ``<script>`` elements from swapped content (the
panels run it with ``allowScriptTags: false``), so a ``json_script`` island would vanish
at the first refresh. ``panels/charts.js`` reads either form."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder

register = template.Library()


@register.filter
def chart_json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"))
