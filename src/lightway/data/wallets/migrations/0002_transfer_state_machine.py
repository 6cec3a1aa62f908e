"""Transfer state transitions enforced by PostgreSQL, generated from models.TRANSITIONS."""

from django.db import migrations

from lightway.data.wallets.models import TRANSITIONS


def _sql() -> str:
    pairs = ", ".join(
        f"('{old}', '{new}')" for old, news in sorted(TRANSITIONS.items()) for new in sorted(news)
    )
    return f"""
CREATE FUNCTION wallets_transfer_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'transfers are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.kind <> OLD.kind OR NEW.amount <> OLD.amount
     OR NEW.currency <> OLD.currency OR NEW.client_id <> OLD.client_id
     OR NEW.idempotency_key <> OLD.idempotency_key OR NEW.request_hash <> OLD.request_hash
     OR NEW.source_wallet_id IS DISTINCT FROM OLD.source_wallet_id
     OR NEW.destination_wallet_id IS DISTINCT FROM OLD.destination_wallet_id THEN
    RAISE EXCEPTION 'transfer %: identity and amount are fixed', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN ({pairs}) THEN
    RAISE EXCEPTION 'transfer %: % -> % is not an allowed transition', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'transfer_transition';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER wallets_transfer_transition BEFORE UPDATE OR DELETE ON wallets_transfer
  FOR EACH ROW EXECUTE FUNCTION wallets_transfer_transition();
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial")]
    operations = [
        migrations.RunSQL(
            _sql(),
            "DROP TRIGGER wallets_transfer_transition ON wallets_transfer;"
            " DROP FUNCTION wallets_transfer_transition();",
        )
    ]
