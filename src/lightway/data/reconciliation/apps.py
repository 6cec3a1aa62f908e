from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "lightway.data.reconciliation"
    label = "reconciliation"
    verbose_name = "MoMo reconciliation"
    default_auto_field = "django.db.models.BigAutoField"
