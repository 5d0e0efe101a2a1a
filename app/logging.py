"""Logging set-up. Third-party loggers that would print URLs with credentials stay quiet."""

from __future__ import annotations

import logging

from app.config import Settings


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # httpx logs full request URLs at INFO; WeChat's code2session URL carries the secret.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
