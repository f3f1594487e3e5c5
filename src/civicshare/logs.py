"""The server's logs carry paths, never query strings.

A query string can hold what a person typed: a share request's purpose (`?purpose=...`), a
search, a `next=` address. The server's access log would keep it in plain text, outside the
audit log's rules, so `civicshare serve` logs the path alone: `NoQueryString` strips
everything from the first "?" of a request target before the record is formatted.

    uvicorn.run(app, log_config=server_log_config())

With `CIVICSHARE_LOG_FORMAT=json` every line is one JSON object (`JsonFormatter`) for a log
collector. The access log then comes from the gateway itself (`civicshare.access`, written by
`health.RequestMetrics`): the route as declared (`/works/streets/{usrn}`), method, status and
duration; never the path asked for, the query string or the client's address.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

# The loggers uvicorn writes request targets to: the access log ('%s - "%s %s HTTP/%s" %d',
# the target third) and the error log (WebSocket handshakes, '%s - "WebSocket %s" ...').
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")
ACCESS_LOGGER = "civicshare.access"
ACCESS_FIELDS = ("method", "route", "status", "duration_ms")


def without_query(target: str) -> str:
    """A request target without its query string (or fragment)."""
    return target.split("?", 1)[0].split("#", 1)[0]


class NoQueryString(logging.Filter):
    """Rewrites a record's arguments so that no request target in them keeps a query string.

    A target is a string argument starting with "/" (uvicorn passes the path and query as one
    argument); the message text itself is left alone. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(_is_target(a) for a in args):
            record.args = tuple(without_query(a) if _is_target(a) else a for a in args)
        elif isinstance(args, dict) and any(_is_target(a) for a in args.values()):
            record.args = {k: without_query(a) if _is_target(a) else a for k, a in args.items()}
        return True


def _is_target(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/") and ("?" in value or "#" in value)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and an access record's
    fields. A failure is named by its type: a traceback's text can hold the values it failed on."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


def server_log_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's own logging configuration (same handlers, formats and levels) with
    NoQueryString on the loggers that write request targets; with `log_format` "json", every
    handler writes JSON and the gateway's own access log replaces uvicorn's."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query_string"] = {"()": f"{__name__}.NoQueryString"}
    loggers = config.setdefault("loggers", {})
    for name in SERVER_LOGGERS:
        logger = loggers.setdefault(name, {})
        logger["filters"] = [*logger.get("filters", []), "no_query_string"]
    if log_format == "json":
        for formatter in config["formatters"].values():
            formatter.clear()
            formatter["()"] = f"{__name__}.JsonFormatter"
        loggers["uvicorn.access"].update(handlers=[], propagate=False)
        loggers[ACCESS_LOGGER] = {"handlers": ["access"], "level": "INFO", "propagate": False}
        loggers["civicshare"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
