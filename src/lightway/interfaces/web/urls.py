import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve as static_serve

from lightway.interfaces.admin import audit as _audit_admin  # noqa: F401 - registers pages
from lightway.interfaces.admin import auth as _auth_admin  # noqa: F401 - audited auth/jobs
from lightway.interfaces.admin import commission as _commission_admin  # noqa: F401
from lightway.interfaces.admin import identity as _identity_admin  # noqa: F401
from lightway.interfaces.admin import ledger as _ledger_admin  # noqa: F401
from lightway.interfaces.api.v1 import api
from lightway.interfaces.panels import urls as panel_urls
from lightway.interfaces.panels.customer_kyc import kyc_urlpatterns
from lightway.interfaces.panels.lightway import aml as aml_panel
from lightway.interfaces.panels.lightway import urls as policy_urls
from lightway.interfaces.web import audit_key, health, settlement_webhook, sms_webhooks, webhooks
from lightway.interfaces.web.authz import public

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Runtime: probes and Prometheus (lightway.interfaces.web.health)
    path("healthz", public(health.healthz), name="healthz"),
    path("readyz", public(health.readyz), name="readyz"),
    path("metrics", public(health.metrics_view), name="metrics"),  # own token, if set
    # The audit checkpoints' public key(s), PEM (docs/security.md, "Signed checkpoints")
    path(
        ".well-known/lightway-audit-key.pem",
        public(audit_key.audit_public_key),
        name="audit-public-key",
    ),
    path("webhooks/sumsub", webhooks.sumsub_webhook, name="webhook-sumsub"),
    # MTN MoMo callbacks: <MOMO_CALLBACK_URL>/<reference_id>, PUT or POST (docs/momo.md)
    path("webhooks/momo/<str:reference_id>", webhooks.momo_callback, name="webhook-momo"),
    # SMS delivery reports (docs/notifications.md "Delivery reports")
    path(
        "webhooks/sms/africastalking/<str:token>",
        sms_webhooks.africastalking_report,
        name="webhook-sms-africastalking",
    ),
    path("webhooks/sms/twilio", sms_webhooks.twilio_report, name="webhook-sms-twilio"),
    # LightWay Finance Settlement API confirmations (docs/settlement.md)
    path(
        "webhooks/settlement",
        settlement_webhook.settlement_webhook,
        name="webhook-settlement",
    ),
    # Web panels (lightway.interfaces.panels): customers, LightWay staff, MTN staff
    path("", panel_urls.root, name="root"),
    path("app/kyc/", include(kyc_urlpatterns)),  # Sumsub KYC page (customer_kyc.py)
    path("app/", include(panel_urls.customer_patterns)),
    # Policy pages (lightway.interfaces.panels.lightway): before the panels' staff/ include
    path("staff/roles/", include(policy_urls.roles_patterns)),
    path("staff/customers/", include(policy_urls.customers_patterns)),
    path("staff/integration-keys/", include(policy_urls.integration_keys_patterns)),
    path("staff/fx/", include(policy_urls.fx_patterns)),
    path("staff/settlement/", include(policy_urls.settlement_patterns)),
    path("staff/partners/", include(policy_urls.partners_patterns)),
    path("staff/partner-limits/", include(policy_urls.partner_limits_patterns)),
    path("staff/remittances/", include(policy_urls.remittances_patterns)),
    path("staff/transactions/", include(policy_urls.transactions_patterns)),
    path("staff/approvals/", include(policy_urls.approvals_patterns)),
    path("staff/audit/", include(policy_urls.audit_patterns)),
    path("staff/compliance/goaml/", include(policy_urls.goaml_patterns)),
    path("staff/reports/", include(policy_urls.reports_patterns)),
    path("staff/compliance/retention/", include(policy_urls.retention_patterns)),
    path("staff/notifications/", policy_urls.notifications_page, name="staff-notifications"),
    path("staff/compliance/", include(aml_panel.compliance_patterns)),
    path("staff/", include(panel_urls.staff_patterns)),
    path("mtn/", include(panel_urls.mtn_patterns)),
    path("favicon.ico", panel_urls.favicon, name="favicon"),
]

if settings.LIGHTWAY_SERVE_STATIC:
    # `lightway up`/`serve` run collectstatic into STATIC_ROOT; Django serves those files
    # itself (admin CSS/JS). Behind a CDN or reverse proxy set LIGHTWAY_SERVE_STATIC=false.
    urlpatterns += [
        re_path(
            rf"^{re.escape(settings.STATIC_URL.lstrip('/'))}(?P<path>.*)$",
            public(static_serve),
            {"document_root": settings.STATIC_ROOT},
            name="static",
        )
    ]
