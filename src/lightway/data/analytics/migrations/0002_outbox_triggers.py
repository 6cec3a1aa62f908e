"""The triggers that copy each fact the rollups count into ``analytics_outbox`` in the
transaction that records it (models docstring): a transfer reaching a final state, a MoMo
request created or reaching its outcome, a MoMo callback processed. One INSERT into an
append-only table with no index but its key: no row that every payment locks."""

from django.db import migrations

TERMINAL_TRANSFER = "('succeeded', 'failed', 'reversed')"

FORWARD = f"""
CREATE FUNCTION analytics_transfer_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN {TERMINAL_TRANSFER}
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        INSERT INTO analytics_outbox (source, ref, kind, product, currency, amount, fee,
                                      client_id, outcome, reason, accept_ms, complete_ms, at)
        VALUES ('transfer', NEW.id::text, NEW.kind, '', NEW.currency, NEW.amount, NEW.fee,
                NEW.client_id, NEW.status, left(NEW.failure_code, 64), NULL, NULL,
                NEW.updated_at);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_transfer_outbox
    AFTER INSERT OR UPDATE OF status ON wallets_transfer
    FOR EACH ROW EXECUTE FUNCTION analytics_transfer_outbox();

CREATE FUNCTION analytics_momo_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_outbox (source, ref, kind, product, currency, amount, fee,
                                      client_id, outcome, reason, accept_ms, complete_ms, at)
        VALUES ('momo', NEW.id::text, NEW.operation, NEW.product, NEW.currency, NEW.amount, 0,
                NULL, 'created', '', NULL, NULL, NEW.created_at);
    END IF;
    IF NEW.status IN ('successful', 'failed')
       AND (TG_OP = 'INSERT' OR OLD.status NOT IN ('successful', 'failed')) THEN
        INSERT INTO analytics_outbox (source, ref, kind, product, currency, amount, fee,
                                      client_id, outcome, reason, accept_ms, complete_ms, at)
        VALUES ('momo', NEW.id::text, NEW.operation, NEW.product, NEW.currency, NEW.amount, 0,
                NULL, NEW.status,
                CASE WHEN NEW.status = 'failed' THEN left(NEW.reason_code, 64) ELSE '' END,
                CASE WHEN NEW.accepted_at IS NOT NULL THEN
                    greatest(0, round(extract(epoch FROM NEW.accepted_at - NEW.created_at) * 1000))
                END,
                greatest(0, round(extract(epoch FROM
                    coalesce(NEW.completed_at, NEW.updated_at) - NEW.created_at) * 1000)),
                coalesce(NEW.completed_at, NEW.updated_at));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_momo_outbox
    AFTER INSERT OR UPDATE OF status ON momo_request
    FOR EACH ROW EXECUTE FUNCTION analytics_momo_outbox();

CREATE FUNCTION analytics_callback_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.outcome <> 'received'
       AND (TG_OP = 'INSERT' OR OLD.outcome = 'received') THEN
        INSERT INTO analytics_outbox (source, ref, kind, product, currency, amount, fee,
                                      client_id, outcome, reason, accept_ms, complete_ms, at)
        VALUES ('callback', NEW.id::text, 'callback', '', '', 0, 0, NULL, NEW.outcome, '',
                NULL, NULL, NEW.received_at);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_callback_outbox
    AFTER INSERT OR UPDATE OF outcome ON momo_callback
    FOR EACH ROW EXECUTE FUNCTION analytics_callback_outbox();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS analytics_transfer_outbox ON wallets_transfer;
DROP FUNCTION IF EXISTS analytics_transfer_outbox();
DROP TRIGGER IF EXISTS analytics_momo_outbox ON momo_request;
DROP FUNCTION IF EXISTS analytics_momo_outbox();
DROP TRIGGER IF EXISTS analytics_callback_outbox ON momo_callback;
DROP FUNCTION IF EXISTS analytics_callback_outbox();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("wallets", "0010_transfer_kind_exchange"),
        ("momo", "0004_callback_body_sealed"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
