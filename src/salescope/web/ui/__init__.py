"""The pages (Jinja2 + htmx): sign-in, the manager's dashboard and queue, a recommendation,
the rep's tasks and visit report, photos, the audit trail. Every page router is included with
the CSRF check (``deps.csrf_protect``)."""

from fastapi import APIRouter

from salescope.web.ui import auth, day, field, models, online, ordering, reports, review, shops

ROUTERS: list[APIRouter] = [
    auth.router,
    review.router,
    field.router,
    models.router,
    ordering.router,
    shops.router,
    day.router,
    reports.router,
    online.router,
]
