from django.apps import AppConfig


class AmlConfig(AppConfig):
    name = "lightway.data.aml"
    label = "aml"
    verbose_name = "AML rules, alerts, cases and sanctions lists"
    default_auto_field = "django.db.models.BigAutoField"
