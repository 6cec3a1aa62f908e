from django.apps import AppConfig


class PanelsConfig(AppConfig):
    name = "lightway.interfaces.panels"
    label = "panels"
    verbose_name = "Web panels"

    def ready(self) -> None:
        # The Django admin signs in through /staff/login/ (password + second factor) and
        # lets in only verified LightWay staff sessions.
        from lightway.interfaces.panels.admin_site import admin_site_secure

        admin_site_secure()
