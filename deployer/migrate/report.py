"""Findings and per-file results of a migration, rendered as text lines or JSON.

A person acts on one line per finding (``file:line: kept|changed|dropped: ...``), so every finding
names where it was in the *source* file, what happened and, for drops, what to do instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    KEPT = "kept"
    CHANGED = "changed"
    DROPPED = "dropped"


class Status(StrEnum):
    AS_IS = "deployable as is"
    WITH_CHANGES = "deployable with changes"
    INCOMPLETE = "incomplete"
    NOT_A_CONTEXT = "not a context"
    FAILED = "failed"


@dataclass
class Finding:
    file: str
    line: int
    action: Action
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.action.value}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "action": self.action.value,
                "message": self.message}


@dataclass
class FileResult:
    """What migrating one input gave: a status, the findings, the migrated text (if any)."""

    source: str
    status: Status = Status.FAILED
    findings: list[Finding] = field(default_factory=list)
    message: str = ""
    text: str | None = None
    output: str | None = None
    name: str | None = None  # the base name of the output file, without ".xml"
    incomplete: str = ""  # why a validating descriptor still cannot be deployed
    server: bool = False  # a server descriptor (session beans) for `run --config`

    def add(self, line: int | None, action: Action, message: str) -> None:
        self.findings.append(Finding(self.source, line or 0, action, message))

    @property
    def ok(self) -> bool:
        """Deployable, or rightly recognised as no context (what exit code 0 promises)."""
        return self.status in (Status.AS_IS, Status.WITH_CHANGES, Status.NOT_A_CONTEXT)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for f in self.findings:
            out[f.action.value] += 1
        return out

    def summary(self) -> str:
        c = self.counts()
        tail = f" -> {self.output}" if self.output else ""
        why = f": {self.message}" if self.message else ""
        figures = f" ({c['kept']} kept, {c['changed']} changed, {c['dropped']} dropped)"
        if self.status in (Status.NOT_A_CONTEXT, Status.FAILED) and not self.findings:
            figures = ""
        return f"{self.source}: {self.status.value}{figures}{why}{tail}"

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "status": self.status.value, "message": self.message,
                "output": self.output, "counts": self.counts(),
                "findings": [f.as_dict() for f in self.findings]}


def render_text(results: list[FileResult]) -> str:
    lines: list[str] = []
    for r in results:
        lines.extend(str(f) for f in r.findings)
        lines.append(r.summary())
        lines.append("")
    total = {s: sum(1 for r in results if r.status is s) for s in Status}
    lines.append(", ".join(f"{n} {s.value}" for s, n in total.items()) + f" ({len(results)} files)")
    return "\n".join(lines) + "\n"


def render_json(results: list[FileResult]) -> str:
    total = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    return json.dumps({"files": [r.as_dict() for r in results], "totals": total}, indent=2) + "\n"
