"""A wallet's currency is its account's currency, enforced by a composite foreign key.

``(account_id, currency)`` references ``ledger_account (id, currency)`` (the unique
constraint ``ledger_account_id_currency`` exists for this), so the database refuses a
wallet whose currency differs from its account's. Wallets are inserted once and never
change (``wallets_wallet_guard``), and an account's id and currency never change, so the
key check costs one lookup when a wallet is opened and nothing on payments. Proven by
``tests/test_ledger_verify.py``; ``lightway ledger verify`` checks the rows too (a
superuser can insert with the foreign-key triggers off).
"""

from django.db import migrations

SQL = """
ALTER TABLE wallets_wallet ADD CONSTRAINT wallets_wallet_account_currency
  FOREIGN KEY (account_id, currency) REFERENCES ledger_account (id, currency);
"""

REVERSE = "ALTER TABLE wallets_wallet DROP CONSTRAINT wallets_wallet_account_currency;"


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0005_usage_counters"),
        ("ledger", "0004_customer_account_policy"),
    ]
    operations = [migrations.RunSQL(SQL, REVERSE)]
