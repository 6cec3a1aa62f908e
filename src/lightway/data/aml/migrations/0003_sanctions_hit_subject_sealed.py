"""A sanctions hit's subject name is sealed at rest (issue 14 review finding 2).

``aml_sanctions_hit.subject_normalised`` held the customer's or beneficiary's normalised
name in clear. It becomes ``subject_name_ct``: new hits are sealed by
``lightway.application.aml.sanctions`` (a customer's with their own key, a beneficiary's
under the keyring). The rows stored before are sealed here, under the keyring's current
key (associated data ``aml.sanctions_hit.subject_name:<subject_ref>``); ``lightway keys
rotate`` and a person's erasure move a customer's to their own key like every value written
before per-person keys. Then the clear column is dropped, and a CHECK refuses anything but
a sealed value (the envelope's ``LW1`` magic, or ``LP1`` for a person's key).

Going back unseals into the clear column again (the keys must still open them).

The sealing needs the keyring (``lightway.security.crypto``), which the data layer does not
import: it is loaded by name when this migration runs, as a deploy step.
"""

from importlib import import_module

from django.db import migrations, models

CONTEXT = "aml.sanctions_hit.subject_name:{}"


def _crypto():  # type: ignore[no-untyped-def]
    return import_module("lightway.security.crypto")


def seal_subject_names(apps, schema_editor):  # type: ignore[no-untyped-def]
    crypto = _crypto()
    hit = apps.get_model("aml", "SanctionsHit")
    rows = hit.objects.filter(subject_name_ct__isnull=True).only(
        "id", "subject_ref", "subject_normalised"
    )
    for row in rows.iterator(chunk_size=500):
        sealed = crypto.encrypt(row.subject_normalised, context=CONTEXT.format(row.subject_ref))
        hit.objects.filter(pk=row.pk).update(subject_name_ct=sealed)


def unseal_subject_names(apps, schema_editor):  # type: ignore[no-untyped-def]
    crypto = _crypto()
    hit = apps.get_model("aml", "SanctionsHit")
    for row in hit.objects.only("id", "subject_ref", "subject_name_ct").iterator(chunk_size=500):
        name = crypto.decrypt(bytes(row.subject_name_ct), context=CONTEXT.format(row.subject_ref))
        hit.objects.filter(pk=row.pk).update(subject_normalised=name[:400])


CHECK = """
ALTER TABLE aml_sanctions_hit ADD CONSTRAINT aml_hit_subject_sealed CHECK (
  length(subject_name_ct) > 11
  AND substring(subject_name_ct from 1 for 3) IN ('\\x4c5731'::bytea, '\\x4c5031'::bytea)
);
"""


class Migration(migrations.Migration):
    dependencies = [("aml", "0002_guards")]

    operations = [
        migrations.AddField(
            model_name="sanctionshit",
            name="subject_name_ct",
            field=models.BinaryField(null=True),
        ),
        migrations.AlterField(
            model_name="sanctionshit",
            name="subject_normalised",
            field=models.CharField(max_length=400, blank=True, default=""),
        ),
        migrations.RunPython(seal_subject_names, unseal_subject_names),
        migrations.RemoveField(model_name="sanctionshit", name="subject_normalised"),
        migrations.AlterField(
            model_name="sanctionshit",
            name="subject_name_ct",
            field=models.BinaryField(),
        ),
        migrations.RunSQL(
            CHECK, "ALTER TABLE aml_sanctions_hit DROP CONSTRAINT aml_hit_subject_sealed;"
        ),
    ]
