"""The recently resolved cases, newest first, from an index (docs/performance.md)."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # built without blocking writes

    dependencies = [
        ("reconciliation", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="reconcase",
            index=models.Index(
                condition=models.Q(("status", "resolved")),
                fields=["-resolved_at", "-id"],
                name="recon_case_resolved",
            ),
        ),
    ]
