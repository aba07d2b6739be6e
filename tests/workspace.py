"""Helpers of the workspace tests (notes, calendar, mail): members of one tenant, each calling
the API with a session of their own."""

import uuid

import httpx

from tests.helpers import PASSWORD, Caller, bearer, create_user, login


async def member(client: httpx.AsyncClient, admin: Caller, role: str = "member") -> dict[str, str]:
    """A new user of the admin's tenant, logged in: the headers of their session."""
    email = f"u-{uuid.uuid4().hex[:10]}@example.com"
    await create_user(client, admin.headers, email, password=PASSWORD, role=role)
    return bearer(await login(client, email))
