"""Database URLs in the forms users have them."""

from urllib.parse import unquote

import pytest

from orchestrator_service.db.heal.healer import refuse_transaction_pooler
from orchestrator_service.db.urls import asyncpg_dsn, describe_location, normalize_url
from orchestrator_service.errors import ConfigError, HealError


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://user:secret@db.example.internal:6543/app",
        "postgres://user:secret@db.example.internal:6543/app",
        "postgresql+asyncpg://user:secret@db.example.internal:6543/app",
    ],
)
def test_libpq_and_sqlalchemy_forms_become_asyncpg(raw: str) -> None:
    url = normalize_url(raw)
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database, url.username) == (
        "db.example.internal",
        6543,
        "app",
        "user",
    )
    assert url.password == "secret"


def test_unix_socket_form_keeps_the_socket_directory() -> None:
    url = normalize_url("postgresql://postgres:@/orchestrator?host=/tmp/pg/socket")
    assert url.query["host"] == "/tmp/pg/socket"
    dsn = unquote(asyncpg_dsn(url))
    assert dsn == "postgresql://postgres:@/orchestrator?host=/tmp/pg/socket"
    assert "Unix socket in /tmp/pg/socket" in describe_location(url)


def test_sslmode_is_translated_both_ways() -> None:
    url = normalize_url("postgresql://u:p@h:5432/d?sslmode=require")
    assert url.query == {"ssl": "require"}
    assert asyncpg_dsn(url).endswith("?sslmode=require")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mysql://u:p@h/d", "Unsupported database URL scheme"),
        ("postgresql://u:p@h:5432", "names no database"),
        ("not a url", "Not a database URL"),
        ("postgresql://u:p@h/d?sslmode=sometimes", "Unknown sslmode"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        normalize_url(raw)
    assert ":p@" not in info.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://postgres.ref:pw@aws-0-us-east-1.pooler.supabase.com:6543/postgres",
        "postgresql://u:pw@pgbouncer.internal:5432/db?pgbouncer=true",
    ],
)
def test_a_transaction_pooler_is_refused_before_healing(raw: str) -> None:
    with pytest.raises(HealError, match="session lock") as info:
        refuse_transaction_pooler(normalize_url(raw))
    assert "pw@" not in info.value.message
