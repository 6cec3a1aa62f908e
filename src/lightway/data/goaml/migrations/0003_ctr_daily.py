"""The daily CTR export (issue 14 review finding 3, docs/goaml.md).

- ``goaml_fiu_config.ctr_daily``: the configuration version opts its FIU in to the daily
  job ``goaml_ctr_daily`` (a new column with a default: the frozen rows are not updated).
- ``goaml_ctr_day``: one row per (FIU, local day) whose CTRs were released, with the ids of
  the files reporting it (none when nothing reached the threshold), written in the
  transaction that stores the files. The unique ``goaml_ctr_day_once`` keeps a day from
  being reported twice (the job run again, two workers, a manual export of the same day);
  the rows are never changed or deleted (trigger ``goaml_ctr_day_frozen``).
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

SQL = """
CREATE FUNCTION goaml_ctr_day_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'goAML CTR day % of % was released: it is never changed or deleted (%)',
    OLD.day, OLD.fiu, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER goaml_ctr_day_frozen BEFORE UPDATE OR DELETE ON goaml_ctr_day
  FOR EACH ROW EXECUTE FUNCTION goaml_ctr_day_frozen();
"""

REVERSE = """
DROP TRIGGER goaml_ctr_day_frozen ON goaml_ctr_day;
DROP FUNCTION goaml_ctr_day_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("goaml", "0002_guards"),
    ]

    operations = [
        migrations.AddField(
            model_name="fiuconfig",
            name="ctr_daily",
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name="CtrDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("fiu", models.SlugField(max_length=40)),
                ("day", models.DateField()),
                (
                    "files",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), blank=True, default=list, size=None
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("created_by", models.CharField(max_length=64)),
                (
                    "config",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="goaml.fiuconfig",
                    ),
                ),
            ],
            options={
                "db_table": "goaml_ctr_day",
                "constraints": [
                    models.UniqueConstraint(fields=("fiu", "day"), name="goaml_ctr_day_once")
                ],
            },
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
