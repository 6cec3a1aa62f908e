import re

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.static import serve as static_serve

from lightway.interfaces.admin import audit as _audit_admin  # noqa: F401 - registers pages
from lightway.interfaces.admin import auth as _auth_admin  # noqa: F401 - audited auth/jobs
from lightway.interfaces.admin import commission as _commission_admin  # noqa: F401
from lightway.interfaces.admin import ledger as _ledger_admin  # noqa: F401
from lightway.interfaces.api.v1 import api
from lightway.interfaces.web import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Runtime: probes and Prometheus (lightway.interfaces.web.health)
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
]

if settings.LIGHTWAY_SERVE_STATIC:
    # `lightway up`/`serve` run collectstatic into STATIC_ROOT; Django serves those files
    # itself (admin CSS/JS). Behind a CDN or reverse proxy set LIGHTWAY_SERVE_STATIC=false.
    urlpatterns += [
        re_path(
            rf"^{re.escape(settings.STATIC_URL.lstrip('/'))}(?P<path>.*)$",
            static_serve,
            {"document_root": settings.STATIC_ROOT},
            name="static",
        )
    ]
