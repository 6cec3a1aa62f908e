"""The delivery log, partitioned by month of ``created_at`` (issue 14, item 5).

Its rows are copied into monthly partitions and the table swapped in this transaction
(``archive_partition_table``, archive 0001): checks, the user foreign key, every index
(the inbox keyset ``(user_id, id DESC)`` included, now one per month) come back from the
catalog. The primary key becomes ``(id, created_at)``; ids are reserved with nextval
before the insert (the ciphertexts are bound to them), so a trigger refuses an id another
month already holds. Nothing references a delivery, so nothing is lost; closed months may
be archived and detached (``lightway archive``).
"""

from django.db import migrations

SQL = """SELECT archive_partition_table('notify_delivery', 'created_at', 'probe', true, '')"""


class Migration(migrations.Migration):
    dependencies = [
        ("notify", "0002_inbox"),
        ("archive", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
