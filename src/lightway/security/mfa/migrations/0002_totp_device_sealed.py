"""TOTP devices with their key sealed (issue 11, finding 2).

django-otp's ``otp_totp_totpdevice`` kept each TOTP key in clear. This creates
``mfa_totp_device`` (the key sealed with the data keys, one device per user), moves every
existing device into it (per user the confirmed one, else the newest), and drops the old
table and its migration records, so no clear key is left in the database. The otp_totp
app is no longer installed.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _totp_move(apps, schema_editor):
    from lightway.security.crypto import encrypt

    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT to_regclass('otp_totp_totpdevice') IS NOT NULL")
        if not cur.fetchone()[0]:
            return
        cur.execute(
            """
            SELECT DISTINCT ON (user_id) id, user_id, name, confirmed, key, step, t0, digits,
                   tolerance, drift, last_t, coalesce(created_at, now()), last_used_at
            FROM otp_totp_totpdevice
            WHERE digits IN (6, 8)
            ORDER BY user_id, confirmed DESC, id DESC
            """
        )
        rows = cur.fetchall()
        for row in rows:
            (
                _id,
                user_id,
                name,
                confirmed,
                key,
                step,
                t0,
                digits,
                tol,
                drift,
                last_t,
                made,
                used,
            ) = row
            sealed = encrypt(key, context=f"mfa.totp.key:{user_id}")
            cur.execute(
                """
                INSERT INTO mfa_totp_device (user_id, name, confirmed, key_ct, step, t0, digits,
                    tolerance, drift, last_t, created_at, last_used_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                [
                    user_id,
                    name,
                    confirmed,
                    sealed,
                    step,
                    t0,
                    digits,
                    tol,
                    drift,
                    last_t,
                    made,
                    used,
                ],
            )
        cur.execute("DROP TABLE otp_totp_totpdevice")
        cur.execute("DELETE FROM django_migrations WHERE app = 'otp_totp'")


class Migration(migrations.Migration):
    dependencies = [
        ("mfa", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TotpDevice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="The human-readable name of this device.", max_length=64
                    ),
                ),
                (
                    "confirmed",
                    models.BooleanField(default=True, help_text="Is this device ready for use?"),
                ),
                ("key_ct", models.BinaryField()),
                ("step", models.PositiveSmallIntegerField(default=30)),
                ("t0", models.BigIntegerField(default=0)),
                ("digits", models.PositiveSmallIntegerField(default=6)),
                ("tolerance", models.PositiveSmallIntegerField(default=1)),
                ("drift", models.SmallIntegerField(default=0)),
                ("last_t", models.BigIntegerField(default=-1)),
                ("created_at", models.DateTimeField()),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        help_text="The user that this device belongs to.",
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "authenticator app",
                "db_table": "mfa_totp_device",
                "constraints": [
                    models.UniqueConstraint(fields=("user",), name="totp_device_one_per_user"),
                    models.CheckConstraint(
                        condition=models.Q(("digits__in", [6, 8])), name="totp_device_digits_6_or_8"
                    ),
                ],
            },
        ),
        migrations.RunPython(_totp_move, migrations.RunPython.noop),
    ]
