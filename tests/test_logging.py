"""Log lines carry no stack trace and no secret, whoever's handler writes them."""

from __future__ import annotations

import io
import logging

from app.infra.logging import SafeFormatter, make_safe, redact


def _raise_with_secret() -> None:
    raise ConnectionError("could not connect to postgres://app:hunter2@db:5432/prod")


def _logger_writing_to(stream: io.StringIO, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


def test_an_exception_is_logged_as_its_type_and_place_only():
    out = io.StringIO()
    logger = _logger_writing_to(out, "test.safe.exc")
    make_safe(logger)
    try:
        _raise_with_secret()
    except ConnectionError:
        logger.exception("payment %s could not be applied", 42)
    line = out.getvalue()
    assert line.startswith("ERROR payment 42 could not be applied [ConnectionError at ")
    assert "test_logging.py:" in line and "in _raise_with_secret" in line
    assert "Traceback" not in line and "hunter2" not in line and "postgres://" not in line
    assert line.count("\n") == 1  # one line, the handler's own layout kept


def test_other_handlers_of_the_same_record_are_not_changed():
    safe, other = io.StringIO(), io.StringIO()
    logger = _logger_writing_to(safe, "test.safe.shared")
    second = logging.StreamHandler(other)
    logger.addHandler(second)
    make_safe(logger)
    assert isinstance(logger.handlers[0].formatter, SafeFormatter)
    assert isinstance(second.formatter, SafeFormatter)  # every handler is wrapped
    make_safe(logger)  # twice is once
    assert not isinstance(logger.handlers[0].formatter.inner, SafeFormatter)  # type: ignore[union-attr]


def test_secrets_in_messages_are_scrubbed():
    cases = {
        "dsn postgres://app:hunter2@db/prod": "dsn postgres://app:***@db/prod",
        "redis://:s3cret@cache:6379/0 down": "redis://:***@cache:6379/0 down",
        "GET /sns/jscode2session?appid=wx1&secret=abc123&js_code=x": (
            "GET /sns/jscode2session?appid=wx1&secret=***&js_code=x"
        ),
        'headers {"Authorization": "Bearer eyJhbGciOi.x.y"}': (
            'headers {"Authorization": "Bearer ***"}'
        ),
        "sent with Bearer abc.def": "sent with Bearer ***",
        # ordinary words that contain a key's name are left alone
        "order 7 paid 1000 fen; tokens issued; notification signed": (
            "order 7 paid 1000 fen; tokens issued; notification signed"
        ),
    }
    for text, expected in cases.items():
        assert redact(text) == expected, text


def test_a_stack_asked_for_is_not_printed():
    out = io.StringIO()
    logger = _logger_writing_to(out, "test.safe.stack")
    make_safe(logger)
    logger.warning("slow call", stack_info=True)
    assert out.getvalue() == "WARNING slow call [stack omitted]\n"
