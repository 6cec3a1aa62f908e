from django.apps import AppConfig


class GoamlConfig(AppConfig):
    name = "lightway.data.goaml"
    label = "goaml"
    verbose_name = "goAML regulatory export"
    default_auto_field = "django.db.models.BigAutoField"
