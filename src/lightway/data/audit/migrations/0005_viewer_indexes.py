"""The audit viewer's filters (issue 14): newest first by (occurred_at, id), keyset pages.

One index per filter, each ending with the keyset's columns (occurred_at, id), so the
planner walks the index and never sorts: time range only, actor, action, object (type and
id). The object one replaces ``audit_record_object`` (object_type, object_id), whose
lookups it serves as well. Built without blocking writes (the table takes every business
transaction's record). EXPLAIN of each filter combination: docs/performance.md, tests in
tests/test_audit_viewer.py.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0004_signed_checkpoints"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="auditrecord",
            index=models.Index(fields=["occurred_at", "id"], name="audit_record_time"),
        ),
        AddIndexConcurrently(
            model_name="auditrecord",
            index=models.Index(
                fields=["actor", "occurred_at", "id"], name="audit_record_actor_time"
            ),
        ),
        AddIndexConcurrently(
            model_name="auditrecord",
            index=models.Index(
                fields=["action", "occurred_at", "id"], name="audit_record_action_time"
            ),
        ),
        AddIndexConcurrently(
            model_name="auditrecord",
            index=models.Index(
                fields=["object_type", "object_id", "occurred_at", "id"],
                name="audit_record_object_time",
            ),
        ),
        RemoveIndexConcurrently(model_name="auditrecord", name="audit_record_object"),
    ]
