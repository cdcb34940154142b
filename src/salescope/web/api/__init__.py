"""The HTTP API of CONTRACTS.md under ``/api/v1`` (Bearer keys); one router per resource."""

from fastapi import APIRouter

from salescope.web.api import customers, orders, recommendations, visits

PREFIX = "/api/v1"
ROUTERS: list[APIRouter] = [
    customers.router,
    orders.router,
    recommendations.router,
    visits.router,
]
