from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "lightway.security.mfa"
    label = "mfa"
    verbose_name = "Second factors"
    default_auto_field = "django.db.models.BigAutoField"
