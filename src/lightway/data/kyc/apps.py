from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "lightway.data.kyc"
    label = "kyc"
    verbose_name = "KYC (Sumsub)"
    default_auto_field = "django.db.models.BigAutoField"
