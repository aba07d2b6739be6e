"""/console: the pages, sign-in and sign-out. The pages' scripts read and write through the
bridge (`bridge.py`), so the console holds no rules of its own about who may do what."""

import json
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.routing import Route

from orchestrator_service.console.bridge import (
    API_PREFIX,
    BRIDGE_PREFIX,
    COOKIE,
    CSRF_HEADER,
    Bridge,
    call_api,
    csrf_ok,
    csrf_token,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
PAGES = {
    "documents": "Documents",
    "search": "Search",
    "agents": "Agents",
    "credentials": "Credentials",
    "access": "API keys and users",
    "audit": "Audit log",
    "platform": "Platform",
}
# Scripts and styles only from this origin: an injected tag could not run even if escaping
# failed somewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
router = APIRouter(prefix="/console", include_in_schema=False)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": None}}, status_code=status
    )


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    """The sign-in form (email and password, or an API key)."""
    return templates.TemplateResponse(
        request, "login.html", {"title": "Sign in"}, headers=SECURITY_HEADERS
    )


@router.post("/session")
async def sign_in(request: Request) -> Response:
    """Sign in with `{"email", "password"}` (a session, through the API's login) or
    `{"api_key"}` (checked against `/me`); the token goes into an HttpOnly cookie. JSON only,
    so a cross-site form cannot post here."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(415, "unsupported_media_type", "Send the sign-in as application/json")
    try:
        data = json.loads(await request.body())
    except ValueError:
        return _error(400, "invalid_json", "The body is not valid JSON")
    if not isinstance(data, dict):
        return _error(422, "validation_error", "Send an object with email and password, or api_key")
    app = request.app
    api_key = data.get("api_key")
    if isinstance(api_key, str) and api_key:
        status, body = await call_api(app, request.scope, "GET", f"{API_PREFIX}/me", api_key)
        token = api_key
    else:
        login = json.dumps({"email": data.get("email"), "password": data.get("password")})
        status, body = await call_api(
            app, request.scope, "POST", f"{API_PREFIX}/auth/login", None, login.encode()
        )
        token = json.loads(body).get("token", "") if status == 200 else ""
    if status != 200:
        return Response(body, status_code=status, media_type="application/json")
    response = Response(status_code=204)
    response.set_cookie(
        COOKIE,
        token,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def sign_out(request: Request) -> Response:
    """End the console session (and the API session behind it); needs the CSRF token."""
    token = request.cookies.get(COOKIE)
    if token:
        if not csrf_ok(request.headers.get(CSRF_HEADER), token):
            return _error(403, "csrf_failed", "Missing or wrong CSRF token; reload the page")
        await call_api(request.app, request.scope, "POST", f"{API_PREFIX}/auth/logout", token)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("")
async def home() -> RedirectResponse:
    """The console opens on the documents page."""
    return RedirectResponse("/console/documents", status_code=303)


@router.get("/{page}")
async def page(page: str, request: Request) -> Response:
    """One console page; signed-out visitors go to the sign-in form."""
    if page not in PAGES:
        return _error(404, "not_found", "No such console page")
    token = request.cookies.get(COOKIE)
    if not token:
        return RedirectResponse("/console/login", status_code=303)
    context = {"title": PAGES[page], "page": page, "pages": PAGES, "csrf": csrf_token(token)}
    return templates.TemplateResponse(request, f"{page}.html", context, headers=SECURITY_HEADERS)


def install_console(app: FastAPI) -> None:
    """Serve the console, its assets and its bridge to the API."""
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.router.routes.append(Route(f"{BRIDGE_PREFIX}/{{rest:path}}", Bridge(app)))
    app.include_router(router)
