"""Findings and per-file results of a migration, rendered as text lines or JSON.

A person acts on one line per finding (``file:line: kept|changed|dropped: ...``), so every finding
names where it was in the *source* file, what happened and, for drops, what to do instead. In the
text report the advice a finding shares with others is printed once, as a numbered note at the
end (``[3]``), clashes between files are listed once, and no line is longer than 119 characters
(longer ones continue, indented, on the next).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from enum import StrEnum

WIDTH = 119
_NOTE_MIN = 40  # shorter advice stays on its line


class Action(StrEnum):
    KEPT = "kept"
    CHANGED = "changed"
    DROPPED = "dropped"


class Status(StrEnum):
    AS_IS = "deployable as is"
    WITH_CHANGES = "deployable with changes"
    INCOMPLETE = "incomplete"
    NOT_A_CONTEXT = "not a context"
    SKIPPED = "skipped"
    FAILED = "failed"


#: why a context is incomplete when its source protected it and the migration could not
NO_AUTHENTICATION = "no authentication"


@dataclass
class Finding:
    file: str
    line: int
    action: Action
    subject: str  # what happened
    advice: str = ""  # what to do instead, when there is something (shared by many findings)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line > 0 else self.file

    @property
    def message(self) -> str:
        """The whole text: the subject, then ": " and the advice when there is one."""
        return f"{self.subject}: {self.advice}" if self.advice else self.subject

    def __str__(self) -> str:
        return f"{self.where}: {self.action.value}: {self.message}"

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
    clashes: list[str] = field(default_factory=list)  # e.g. "contextPath /", shared with others
    server: bool = False  # a server descriptor (session beans) for `run --config`
    root_line: int = 0  # a context's root <Configure> in the source: findings on the whole context

    def add(self, line: int | None, action: Action, message: str, advice: str = "") -> None:
        """``advice`` (what to do) follows ``message`` after ": " in the finding's text."""
        self.findings.append(Finding(self.source, line or 0, action, message, advice))

    @property
    def ok(self) -> bool:
        """Deployable, or rightly left alone (no context, not a descriptor): what exit 0 says."""
        return self.status in (Status.AS_IS, Status.WITH_CHANGES, Status.NOT_A_CONTEXT,
                               Status.SKIPPED)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for f in self.findings:
            out[f.action.value] += 1
        return out

    def summary(self, clashes: bool = True) -> str:
        c = self.counts()
        tail = f" -> {self.output}" if self.output else ""
        why = f": {self.message}" if self.message else ""
        figures = f" ({c['kept']} kept, {c['changed']} changed, {c['dropped']} dropped)"
        if self.status in (Status.NOT_A_CONTEXT, Status.FAILED, Status.SKIPPED) \
                and not self.findings:
            figures = ""
        if clashes and self.clashes:
            why += "; " + "; ".join(f"{what} is also used by another file (see the end)"
                                    for what in self.clashes)
        return f"{self.source}: {self.status.value}{figures}{why}{tail}"

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "status": self.status.value, "message": self.message,
                "output": self.output, "counts": self.counts(), "clashes": self.clashes,
                "findings": [f.as_dict() for f in self.findings]}


CLASH_ADVICE = {
    "contextPath": "deployer refuses all but the first of them: give each its own contextPath "
                   "or virtualHosts",
    "storeDirectory": "9.3 session files carry no context, so deployer refuses two contexts on "
                      "one storeDirectory: give each its own",
}


def _wrap(line: str) -> list[str]:
    if len(line) <= WIDTH:
        return [line]
    return textwrap.wrap(line, WIDTH, subsequent_indent="    ", break_long_words=False,
                         break_on_hyphens=False) or [line]


def render_text(results: list[FileResult]) -> str:
    advice_count: dict[str, int] = {}
    for r in results:
        for f in r.findings:
            if len(f.advice) >= _NOTE_MIN:
                advice_count[f.advice] = advice_count.get(f.advice, 0) + 1
    notes: dict[str, int] = {}
    lines: list[str] = []
    for r in results:
        for f in r.findings:
            text = str(f)
            if f.advice in advice_count and (advice_count[f.advice] > 1 or len(text) > WIDTH):
                number = notes.setdefault(f.advice, len(notes) + 1)
                text = f"{f.where}: {f.action.value}: {f.subject} [{number}]"
            lines.extend(_wrap(text))
        lines.extend(_wrap(r.summary()))
        lines.append("")
    if notes:
        lines.append("Notes:")
        for advice, number in notes.items():
            lines.extend(textwrap.wrap(f"[{number}] {advice}", WIDTH, subsequent_indent="    ",
                                       break_long_words=False))
        lines.append("")
    groups: dict[str, list[str]] = {}
    for r in results:
        for what in r.clashes:
            groups.setdefault(what, []).append(r.source)
    if groups:
        lines.append("Clashes:")
        for what, sources in groups.items():
            advice = CLASH_ADVICE.get(what.split(" ", 1)[0], "")
            lines.extend(textwrap.wrap(f"{what} is used by {len(sources)} files: {advice}",
                                       WIDTH, subsequent_indent="    ", break_long_words=False))
            lines.extend(_wrap(f"    {s}")[0] for s in sources)
        lines.append("")
    unprotected = [r.source for r in results if r.message.startswith(NO_AUTHENTICATION)]
    if unprotected:
        lines.extend(textwrap.wrap(
            f"WARNING: {len(unprotected)} context(s) lost their authentication (realms, security "
            "constraints): migrated as they are, they would serve to anyone what the original "
            "protected. Protect them (a front proxy, or middleware in the Python app) before "
            "deploying:", WIDTH, break_long_words=False))
        lines.extend(f"    {s}" for s in unprotected)
        lines.append("")
    total = {s: sum(1 for r in results if r.status is s) for s in Status}
    lines.extend(_wrap(", ".join(f"{n} {s.value}" for s, n in total.items())
                       + f" ({len(results)} files)"))
    return "\n".join(lines) + "\n"


def render_json(results: list[FileResult]) -> str:
    total = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    return json.dumps({"files": [r.as_dict() for r in results], "totals": total}, indent=2) + "\n"
