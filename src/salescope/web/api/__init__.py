"""The HTTP API of CONTRACTS.md under ``/api/v1`` (Bearer keys); one router per resource."""

from fastapi import APIRouter

from salescope.web.api import customers, recommendations, visits

PREFIX = "/api/v1"
ROUTERS: list[APIRouter] = [customers.router, recommendations.router, visits.router]
