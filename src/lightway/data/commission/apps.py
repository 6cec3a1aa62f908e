from django.apps import AppConfig


class CommissionConfig(AppConfig):
    name = "lightway.data.commission"
    label = "commission"
    verbose_name = "Commission"
    default_auto_field = "django.db.models.BigAutoField"
