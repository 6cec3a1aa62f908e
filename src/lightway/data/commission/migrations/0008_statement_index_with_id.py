"""A party's statement reads ``(party, party_ref, created_at, id)``: the index now ends with
``id``, the keyset's tie-breaker, so it matches the statement's ORDER BY exactly. With only
``created_at`` the planner could prefer the ``(created_at, id)`` index that the admin list
gained (commission 0007) and walk every party's records of the period (issue 13).

Built without blocking writes, the new index before the old one is dropped.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("commission", "0007_record_created_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commissionrecord",
            index=models.Index(
                fields=["party", "party_ref", "created_at", "id"], name="commission_rec_statement"
            ),
        ),
        RemoveIndexConcurrently(model_name="commissionrecord", name="commission_rec_stmt"),
    ]
