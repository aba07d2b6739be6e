"""Database URLs in the forms users have them, turned into what our drivers need."""

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from orchestrator_service.errors import ConfigError

_ACCEPTED_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def normalize_url(raw: str) -> URL:
    """Parse a libpq-style or SQLAlchemy URL into a `postgresql+asyncpg` URL."""
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise ConfigError(f"Not a database URL: {redact(raw)!r}") from exc
    if url.drivername not in _ACCEPTED_SCHEMES:
        raise ConfigError(
            f"Unsupported database URL scheme {url.drivername!r}; "
            "use postgresql://user:pass@host:port/db"
        )
    if not url.database:
        raise ConfigError(f"The database URL {redact(raw)!r} names no database")
    query = dict(url.query)
    sslmode = query.pop("sslmode", None)
    if sslmode is not None:
        if sslmode not in _SSL_MODES:
            raise ConfigError(f"Unknown sslmode {sslmode!r}")
        # asyncpg names libpq's sslmode `ssl`.
        query["ssl"] = sslmode
    return url.set(drivername="postgresql+asyncpg", query=query)


def asyncpg_dsn(url: URL) -> str:
    """Render a normalized URL as a DSN that `asyncpg.connect` accepts."""
    query = dict(url.query)
    ssl = query.pop("ssl", None)
    if ssl is not None:
        query["sslmode"] = ssl
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


def describe_location(url: URL) -> str:
    """Name where a URL points (host and port, or socket directory) without credentials."""
    socket_dir = url.query.get("host")
    if socket_dir and str(socket_dir).startswith("/"):
        return f"Unix socket in {socket_dir} (port {url.port or 5432}), database {url.database!r}"
    return f"host {url.host or 'localhost'} port {url.port or 5432}, database {url.database!r}"


def with_database(url: URL, database: str) -> URL:
    """The same server, another database."""
    return url.set(database=database)


def redact(raw: str) -> str:
    """A URL string with its password masked, for messages."""
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
