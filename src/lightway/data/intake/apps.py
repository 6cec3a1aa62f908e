from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "lightway.data.intake"
    label = "intake"
    verbose_name = "Unauthenticated intake"
    default_auto_field = "django.db.models.BigAutoField"
