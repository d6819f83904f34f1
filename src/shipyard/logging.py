"""Structured logs (structlog): JSON lines by default, carrying the request id."""

from __future__ import annotations

import contextlib
import logging
import sys

import structlog

from shipyard.settings import LoggingSettings

_configured: tuple[str, str] | None = None


def configure_logging(cfg: LoggingSettings) -> None:
    """Idempotent: the first configuration of a process wins unless it changes."""
    global _configured
    if _configured == (cfg.level, cfg.format):
        return
    level = logging.getLevelNamesMapping()[cfg.level]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if cfg.format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Resolve sys.stderr per logger, not once: a replaced stream (pytest capture,
        # a daemon redirect) must not leave loggers writing to a closed file.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _configured = (cfg.level, cfg.format)


class _StderrLogger(structlog.PrintLogger):
    """A print logger that a gone stream cannot break: a model server whose controller was
    killed writes into a pipe nobody reads (EPIPE), and a log line must never turn into an
    exception in the code that logged it. Lines written then are lost, as nobody reads them."""

    def msg(self, message: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # EPIPE, a closed file
            super().msg(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    return _StderrLogger(file=sys.stderr)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
