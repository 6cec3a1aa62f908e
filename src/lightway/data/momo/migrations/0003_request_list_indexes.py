"""Indexes for the request-path lists (docs/performance.md)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Indexes on tables that take payments are built without blocking writes.
    atomic = False

    dependencies = [
        ("momo", "0002_request_integrity"),
        ("wallets", "0004_transfer_integrity"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="momorequest",
            index=models.Index(fields=["status", "-created_at"], name="momo_request_status_recent"),
        ),
        AddIndexConcurrently(
            model_name="momorequest",
            index=models.Index(
                fields=["operation", "-created_at"], name="momo_request_operation_recent"
            ),
        ),
        AddIndexConcurrently(
            model_name="momorequest",
            index=models.Index(
                condition=models.Q(("needs_review", True)),
                fields=["-created_at"],
                name="momo_request_review",
            ),
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY momo_request_ref_prefix ON momo_request"
            " ((reference_id::text) text_pattern_ops)",
            "DROP INDEX CONCURRENTLY momo_request_ref_prefix",
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY momo_request_transfer_prefix ON momo_request"
            " ((transfer_id::text) text_pattern_ops)",
            "DROP INDEX CONCURRENTLY momo_request_transfer_prefix",
        ),
    ]
