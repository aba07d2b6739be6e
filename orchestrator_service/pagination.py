"""The one pagination scheme of every list: `limit` and an opaque keyset `cursor`.

Lists are ordered newest first by (created_at, id). A page carries `next_cursor`, null on the
last page; pass it back as `cursor` to get the next one. Cursors survive inserts (no skipped or
repeated rows, unlike offsets) and cost the same at any depth.
"""

import base64
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.errors import InvalidInput

MAX_LIMIT = 200


class PageParams(BaseModel):
    """`limit` (1..200, default 50) and `cursor` from the query string."""

    limit: int = 50
    cursor: str | None = None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None


def page_of(schema: type[T], rows: Iterable[Any], cursor: str | None = None) -> Page[T]:
    """A page of `schema` items made from rows (ORM objects or items already of `schema`)."""
    validate = getattr(schema, "model_validate", None)
    items = [row if isinstance(row, schema) or validate is None else validate(row) for row in rows]
    return Page(items=items, next_cursor=cursor)


def _encode(created_at: datetime, id_: Any) -> str:
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, id_type: type) -> tuple[datetime, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, id_ = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not (isinstance(created, str) and isinstance(id_, str)):
            raise TypeError("not a cursor")
        key = id_type(id_)
        if isinstance(key, int) and not 0 < key < 2**31:
            raise ValueError("id out of range")
        return datetime.fromisoformat(created), key
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise InvalidInput(
            "The cursor is not one this API issued; pass `next_cursor` from the previous page",
            details={"field": "cursor"},
        ) from exc


async def paginate(session: AsyncSession, stmt: Select, model: type, page: PageParams) -> tuple:
    """Run `stmt` for one page; return (rows, next_cursor)."""
    id_type = model.id.type.python_type
    if page.cursor is not None:
        created_at, id_ = _decode(page.cursor, id_type)
        stmt = stmt.where(tuple_(model.created_at, model.id) < tuple_(created_at, id_))
    stmt = stmt.order_by(model.created_at.desc(), model.id.desc()).limit(page.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, _encode(rows[-1].created_at, rows[-1].id)
