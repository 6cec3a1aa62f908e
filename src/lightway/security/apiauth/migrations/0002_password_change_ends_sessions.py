"""A new password ends every API session of the account, whoever changes it (issue 11,
finding 3).

``authentication.passwords.password_changed`` revokes the refresh tokens, audits and alerts
the customer; this trigger is the rule under it: when ``auth_user.password`` changes, the
account's devices lose their live session (``session_family``), so its access tokens stop
at their next request and its refresh tokens no longer match a live session, even when the
password was changed by ``manage.py changepassword`` or a shell. It reads no clock.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION apiauth_password_change_ends_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.password IS DISTINCT FROM OLD.password THEN
        UPDATE apiauth_device SET session_family = NULL
         WHERE user_id = NEW.id AND session_family IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER apiauth_password_change_ends_sessions
    AFTER UPDATE OF password ON auth_user
    FOR EACH ROW EXECUTE FUNCTION apiauth_password_change_ends_sessions();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS apiauth_password_change_ends_sessions ON auth_user;
DROP FUNCTION IF EXISTS apiauth_password_change_ends_sessions();
"""


class Migration(migrations.Migration):
    dependencies = [("apiauth", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
