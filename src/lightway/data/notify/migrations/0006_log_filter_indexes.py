"""The staff delivery log's filters (/staff/notifications/): newest first by id, keyset
pages, filtered by status, channel or both. Without an index that ends with the id after
the filter's columns, a rare status (``failed``, ``dead``) walked every month's primary key
newest first and tested each row, or read every match and sorted them. One index per
filter combination, each ending with ``id``: a page is one short range scan per month,
merged (docs/performance.md "Delivery log filters").

``notify_delivery`` is partitioned by month (0003): ``CREATE INDEX`` on the partitioned
table makes a partitioned index, one index per month, and every month created later
(``archive_partitions_ensure``) or attached again (``lightway archive restore``) gets its
own. PostgreSQL cannot build an index on a partitioned table ``CONCURRENTLY``; the build
holds a SHARE lock on each month (writes wait, reads do not): about 12 s for the three on
1.2 million deliveries (docs/performance.md).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notify", "0005_sms_providers"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["status", "id"], name="notify_delivery_status_id"),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["channel", "id"], name="notify_delivery_channel_id"),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                fields=["channel", "status", "id"], name="notify_delivery_chan_stat_id"
            ),
        ),
    ]
