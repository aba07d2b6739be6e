"""Keep known secret values out of every log record, whoever logs it.

Secrets this process has sealed or opened are remembered (bounded, newest kept) and replaced
by a marker in each log record's message and arguments when the record is created, so the
scrubbing also covers third-party loggers and test log capture.
"""

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable

MARKER = "[SECRET]"
_MAX_REMEMBERED = 10_000
_MIN_LENGTH = 4  # Shorter values would scrub ordinary words.

_lock = threading.Lock()
_secrets: OrderedDict[str, None] = OrderedDict()
_pattern: re.Pattern[str] | None = None


def remember_secret(value: str) -> None:
    """Add a secret value to the set scrubbed from logs."""
    global _pattern
    if len(value) < _MIN_LENGTH:
        return
    with _lock:
        if value in _secrets:
            _secrets.move_to_end(value)
            return
        _secrets[value] = None
        if len(_secrets) > _MAX_REMEMBERED:
            _secrets.popitem(last=False)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def scrub(text: str) -> str:
    """`text` with every remembered secret replaced by a marker."""
    pattern = _pattern
    return pattern.sub(MARKER, text) if pattern is not None else text


class _ScrubbingFactory:
    """A log record factory that scrubs the records another factory makes."""

    scrubs_secrets = True

    def __init__(self, factory: Callable[..., logging.LogRecord]) -> None:
        self._factory = factory

    def __call__(self, *args: object, **kwargs: object) -> logging.LogRecord:
        record = self._factory(*args, **kwargs)
        if _pattern is not None:
            record.msg = scrub(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return record


def install_log_scrubbing() -> None:
    """Scrub secrets from every log record created from now on (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "scrubs_secrets", False):
        return
    logging.setLogRecordFactory(_ScrubbingFactory(factory))
