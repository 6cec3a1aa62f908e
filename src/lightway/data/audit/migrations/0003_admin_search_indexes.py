"""The audit list's exact searches: by object id, and by actor newest first (issue 13,
performance).

Built without blocking writes (the tables take payments).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0002_append_only"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="auditrecord",
            index=models.Index(fields=["object_id"], name="audit_record_object_id"),
        ),
        AddIndexConcurrently(
            model_name="auditrecord",
            index=models.Index(fields=["actor", "id"], name="audit_record_actor"),
        ),
    ]
