from django.apps import AppConfig


class MomoConfig(AppConfig):
    name = "lightway.data.momo"
    label = "momo"
    verbose_name = "MTN MoMo requests, callbacks and float"
    default_auto_field = "django.db.models.BigAutoField"
