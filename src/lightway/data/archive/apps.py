from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "lightway.data.archive"
    label = "archive"
    verbose_name = "Partitions and archives"
    default_auto_field = "django.db.models.BigAutoField"
