from django.apps import AppConfig


class ApiAuthConfig(AppConfig):
    name = "lightway.security.apiauth"
    label = "apiauth"
    verbose_name = "API authentication"
    default_auto_field = "django.db.models.BigAutoField"
