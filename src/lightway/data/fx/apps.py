from django.apps import AppConfig


class FxConfig(AppConfig):
    name = "lightway.data.fx"
    label = "fx"
    verbose_name = "FX rates"
    default_auto_field = "django.db.models.BigAutoField"
