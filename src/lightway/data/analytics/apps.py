from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "lightway.data.analytics"
    label = "analytics"
    verbose_name = "Analytics rollups"
    default_auto_field = "django.db.models.BigAutoField"
