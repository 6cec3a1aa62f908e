"""The back office's transaction list reads every kind of payment newest first
(``application/backoffice/transactions.py``): an index on ``(created_at, id)`` of
``wallets_transfer`` keeps a page, and each later page after its cursor, a bounded read
however many payments there are (the table's other indexes lead with the customer, the
wallet or the status, or cover the MoMo-routed kinds only)."""

from django.db import migrations

SQL = "CREATE INDEX IF NOT EXISTS transfer_recent ON wallets_transfer (created_at DESC, id DESC)"
REVERSE = "DROP INDEX IF EXISTS transfer_recent"


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0002_guards"), ("wallets", "0010_transfer_kind_exchange")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
