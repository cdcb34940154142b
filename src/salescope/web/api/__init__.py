"""The HTTP API of CONTRACTS.md under ``/api/v1`` (Bearer keys); one router per resource."""

from fastapi import APIRouter

from salescope.web.api import customers, recommendations, visits

router = APIRouter(prefix="/api/v1")
router.include_router(customers.router)
router.include_router(recommendations.router)
router.include_router(visits.router)
