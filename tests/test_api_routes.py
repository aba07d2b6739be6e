"""The order of the API's domain routers is free: no two domains answer the same request."""

import re

from fastapi import APIRouter
from fastapi.routing import APIRoute

from orchestrator_service.api import DOMAIN_ROUTERS
from orchestrator_service.auth.router import public_router

_PARAMETER = re.compile(r"\{[^}]*\}")


def _clashes(routers: list[APIRouter]) -> list[tuple[str, str]]:
    """(path, other path) of routes of different routers that answer the same request: each
    route's template made concrete with every parameter a digit (which a string and an
    integer parameter both accept), tried against the other routers' routes."""
    domains = [[r for r in router.routes if isinstance(r, APIRoute)] for router in routers]
    assert all(domains), "a router without routes"
    found = []
    for index, routes in enumerate(domains):
        others = [r for i, d in enumerate(domains) if i != index for r in d]
        for route in routes:
            path = _PARAMETER.sub("1", route.path)
            found += [
                (route.path, other.path)
                for other in others
                if other.path_regex.match(path) and route.methods & other.methods
            ]
    return found


def test_no_request_is_answered_by_two_domains() -> None:
    assert _clashes([public_router, *DOMAIN_ROUTERS]) == []


def test_a_clash_would_be_found() -> None:
    first, second = APIRouter(prefix="/rag"), APIRouter(prefix="/rag")
    first.add_api_route("/search", lambda: None, methods=["POST"])
    second.add_api_route("/{name}", lambda: None, methods=["POST", "GET"])
    assert _clashes([first, second]) == [("/rag/search", "/rag/{name}")]
