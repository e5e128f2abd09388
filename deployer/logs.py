"""How deployer's log looks: text for a person, or one JSON object a line for a log shipper."""

from __future__ import annotations

import json
import logging
import sys

TEXT = "%(asctime)s %(levelname)s deployer: %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` (+ ``"traceback"``) on one line; the message's
    own newlines (a worker's traceback) stay inside the string."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{record.msecs:03.0f}",
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str = "text") -> None:
    """deployer's (and uvicorn's and watchdog's: an inotify overflow, a watch it could not add)
    records to stderr in the chosen format, rather than Python's bare last-resort handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    for name in ("deployer", "uvicorn", "watchdog"):
        root = logging.getLogger(name)
        root.handlers[:] = [handler]
        root.setLevel(level.upper() if name == "deployer" else "WARNING")
        root.propagate = False
