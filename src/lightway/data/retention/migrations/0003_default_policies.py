"""The retention policies in force when retention began (docs/retention.md, "Policies").

The rows are ``lightway.data.retention.defaults.POLICIES``. Sources: ``compliance.md`` §3 (record retention per market, with its confidence) and §4
(data protection: keep personal data no longer than a law or the purpose requires; the AML
duty to keep records is such a law). Where a market's period was not captured or is only
"believed", the default applies: 10 years. Seeded as recorded on 2020-01-01, the date the
platform's data begins; later changes are new versions (never edits).
"""

from django.db import migrations

from lightway.data.retention.defaults import policies_seed


def seed(apps, schema_editor):
    policies_seed(apps.get_model("retention", "RetentionPolicy"))


class Migration(migrations.Migration):
    dependencies = [("retention", "0002_guards")]

    # Not reversible: policy versions are never deleted (trigger).
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
