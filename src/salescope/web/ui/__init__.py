"""The pages (Jinja2 + htmx): sign-in, the manager's dashboard and queue, a recommendation,
the rep's tasks and visit report, photos, the audit trail."""

from fastapi import APIRouter, Depends

from salescope.web.deps import csrf_protect
from salescope.web.ui import auth, field, review

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
router.include_router(auth.router)
router.include_router(review.router)
router.include_router(field.router)
