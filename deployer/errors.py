"""One error family. Every descriptor error carries a Location so a person can find the line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Location:
    """Where something was written: file, 1-based line, 1-based column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    @classmethod
    def of(cls, path: str | Path, line: int | None = None, column: int | None = None) -> Location:
        return cls(str(path), line or 0, column or 0)


class DeployerError(Exception):
    """Base of every error deployer raises on purpose; printed without a traceback."""


class DescriptorError(DeployerError):
    """A problem in a descriptor, at a known place."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


class DescriptorErrors(DeployerError):
    """All the problems of one file at once, sorted by position."""

    def __init__(self, problems: list[DescriptorError]) -> None:
        self.problems = sorted(problems, key=lambda p: p.location)
        super().__init__("\n".join(str(p) for p in self.problems))


class SessionError(DeployerError):
    """A session-layer problem: bad id, attribute that cannot be stored, unusable store."""


class SessionLimitError(SessionError):
    """maxActiveSessions reached and nothing can be passivated: no new session now (503)."""


class AppLoadError(DeployerError):
    """A webapp could not be imported or started; carries the formatted traceback."""

    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message)
        self.traceback_text = traceback_text


class ConflictError(DeployerError):
    """Two descriptors claim the same route or the same session store; ``other`` is the one that
    holds it (the message alone is what ``str()`` gives, for the log)."""

    def __init__(self, message: str, other: Path) -> None:
        super().__init__(message)
        self.other = other


class UsageError(DeployerError):
    """Bad command-line usage (exit code 2)."""
