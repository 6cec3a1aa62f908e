from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "lightway.data.wallets"
    label = "wallets"
    verbose_name = "Wallets and transfers"
    default_auto_field = "django.db.models.BigAutoField"
