from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "lightway.data.partners"
    label = "partners"
    verbose_name = "Partners (IMTOs)"
    default_auto_field = "django.db.models.BigAutoField"
