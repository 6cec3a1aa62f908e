from django.apps import AppConfig


class RemittancesConfig(AppConfig):
    name = "lightway.data.remittances"
    label = "remittances"
    verbose_name = "Partner remittances"
    default_auto_field = "django.db.models.BigAutoField"
