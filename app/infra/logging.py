"""Logging set-up: nothing a log line shows can leak a secret or a stack trace.

Every handler (ours, uvicorn's, arq's) formats through `SafeFormatter`: an exception is
shown as its type and where it was raised in our code (`RuntimeError at
app/services/discovery.py:44 in order_paid`), never as a traceback or its message (messages of
drivers and HTTP clients can carry URLs, DSNs and keys); what is left of the line is
scrubbed of credentials in URLs and of values of secret-looking keys. Who needs the full
story reproduces it from the request id and the location.
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType
from typing import Any

from app.infra.config import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# scheme://user:password@host  ->  scheme://user:***@host
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE)
# secret=..., "api_key": "...", Authorization: Bearer ...
_SECRET_VALUE = re.compile(
    r"((?:password|passwd|secret|token|api[_-]?key|apikey|private[_-]?key|signature|sign|"
    r"authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',;&}]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(\bbearer\s+)[^\s\"',;&}]+", re.IGNORECASE)


def redact(text: str) -> str:
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _SECRET_VALUE.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


def exception_summary(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None] | Any,
) -> str:
    """`Type at file:line in function`, the innermost frame of our own code (else the
    innermost frame): where to look, without the message or the stack."""
    etype, _, tb = exc_info
    name = getattr(etype, "__name__", str(etype))
    frames = traceback.extract_tb(tb) if tb is not None else []
    if not frames:
        return name
    ours = [f for f in frames if "/app/" in f.filename.replace("\\", "/")]
    f = (ours or frames)[-1]
    path = f.filename.replace("\\", "/")
    path = path[path.rindex("/app/") + 1 :] if "/app/" in path else path.rsplit("/", 1)[-1]
    return f"{name} at {path}:{f.lineno} in {f.name}"


class SafeFormatter(logging.Formatter):
    """Wraps a handler's formatter (keeping its layout): exceptions and stacks become a
    one-line summary, and the line is redacted."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__(FORMAT)
        self.inner = inner if inner is not None else logging.Formatter(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            # a copy: other handlers of the same record format it their own way
            record = logging.makeLogRecord(record.__dict__)
            summary = exception_summary(record.exc_info) if record.exc_info else "stack omitted"
            record.msg = f"{record.getMessage()} [{summary}]"
            record.args = None
            record.exc_info = record.exc_text = record.stack_info = None
        return redact(self.inner.format(record))


def make_safe(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if not isinstance(handler.formatter, SafeFormatter):
            handler.setFormatter(SafeFormatter(handler.formatter))


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format=FORMAT)
    # httpx logs full request URLs at INFO; WeChat's code2session URL carries the secret.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    make_safe(logging.getLogger())
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if logger.handlers:  # uvicorn's, arq's: configured before us
            make_safe(logger)
