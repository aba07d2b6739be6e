"""No request dependency is a plain function: FastAPI would run each in its thread pool, a
thread hop per call on every request (bench/serve_load.py measured two per search)."""

import inspect

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from orchestrator_service.config import Settings
from orchestrator_service.main import create_app


def _routes(routes: list) -> list[APIRoute]:
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found.extend(_routes(inner.routes))
    return found


def _threaded(dependant: Dependant) -> set[str]:
    threaded = set()
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not (
            inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
        ):
            threaded.add(f"{call.__module__}.{call.__qualname__}")
        threaded |= _threaded(sub)
    return threaded


def test_every_dependency_of_every_route_runs_on_the_event_loop(tmp_path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    routes = _routes(app.router.routes)
    threaded = set().union(*(_threaded(route.dependant) for route in routes))

    assert len(routes) > 100  # the walk reaches the nested routers' routes
    assert threaded == set()
