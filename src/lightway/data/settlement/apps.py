from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "lightway.data.settlement"
    label = "settlement"
    verbose_name = "Settlement windows, positions and instructions"
    default_auto_field = "django.db.models.BigAutoField"
