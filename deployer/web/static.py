"""The static-site ASGI app: conditional GET, ranges, welcome files, and nothing outside the base.

A webapp without wsgi.py/asgi.py is served as files from its directory or archive. ``WEB-INF`` and
``META-INF`` (any case, any depth) are never served; ``..`` segments (also percent-encoded), NUL
bytes, backslashes and symlinks that lead out of the base answer 404. A directory without a welcome
file is 403, or an HTML listing (names escaped) when the context allows it (``dirAllowed`` /
``directoriesListed``; off by default). Filesystem work runs in a thread so a slow disk never
stalls the event loop.
"""

from __future__ import annotations

import asyncio
import html
import mimetypes
import os
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from deployer.web.responses import error

SMALL = 256 * 1024  # read in one go below this size
CHUNK = 256 * 1024
PROTECTED = ("web-inf", "meta-inf")


@dataclass(frozen=True)
class Entry:
    key: str  # absolute path for directories, member name for archives
    is_dir: bool
    size: int
    mtime: float


class DirSource:
    def __init__(self, base: Path) -> None:
        self.root = os.path.realpath(base)

    def stat(self, parts: list[str]) -> Entry | None:
        path = os.path.realpath(os.path.join(self.root, *parts))
        if path != self.root and not path.startswith(self.root + os.sep):
            return None  # a symlink out of the base
        try:
            st = os.stat(path)
        except OSError:
            return None
        is_dir = os.path.isdir(path)
        return Entry(path, is_dir, 0 if is_dir else st.st_size, st.st_mtime)

    def list(self, entry: Entry) -> list[str]:
        """A directory's names, sub-directories ending in "/"."""
        with os.scandir(entry.key) as it:
            return [d.name + "/" if d.is_dir() else d.name for d in it]

    def read(self, entry: Entry, start: int, length: int) -> bytes:
        with open(entry.key, "rb") as f:
            f.seek(start)
            return f.read(length)


class ZipSource:
    def __init__(self, archive: Path) -> None:
        self.zf = zipfile.ZipFile(archive)
        self.lock = threading.Lock()
        mtime = archive.stat().st_mtime
        self.files: dict[str, Entry] = {}
        self.dirs: set[str] = {""}
        for info in self.zf.infolist():
            name = info.filename.rstrip("/")
            parts = name.split("/")
            for i in range(1, len(parts)):
                self.dirs.add("/".join(parts[:i]))
            if info.is_dir():
                self.dirs.add(name)
            else:
                self.files[name] = Entry(name, False, info.file_size, mtime)
        self.mtime = mtime

    def stat(self, parts: list[str]) -> Entry | None:
        name = "/".join(parts)
        if name in self.files:
            return self.files[name]
        if name in self.dirs:
            return Entry(name, True, 0, self.mtime)
        return None

    def list(self, entry: Entry) -> list[str]:
        prefix = entry.key + "/" if entry.key else ""
        names = {d[len(prefix):] + "/" for d in self.dirs
                 if d.startswith(prefix) and d != entry.key}
        names |= {f[len(prefix):] for f in self.files if f.startswith(prefix)}
        return [n for n in names if "/" not in n.rstrip("/")]

    def read(self, entry: Entry, start: int, length: int) -> bytes:
        # one shared handle: ZipFile reads are not safe concurrently
        with self.lock, self.zf.open(entry.key) as f:
            if start:
                f.seek(start)
            return f.read(length)


def clean_parts(path: str) -> list[str] | None:
    """Segments of a decoded request path, or None when it must not be served."""
    if "\x00" in path or "\\" in path:
        return None
    parts = []
    for seg in path.split("/"):
        seg = seg.partition(";")[0]  # path parameters (";jsessionid=...") name no file
        if seg in ("", "."):
            continue
        if seg == ".." or seg.lower() in PROTECTED:
            return None
        parts.append(seg)
    return parts


def content_type(name: str) -> str:
    ctype, _ = mimetypes.guess_type(name, strict=False)
    if ctype is None:
        return "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        return ctype + "; charset=utf-8"
    return ctype


def etag_of(entry: Entry) -> str:
    return f'"{int(entry.mtime * 1_000_000):x}-{entry.size:x}"'


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    bare = etag.strip('"')
    return any(t.strip().removeprefix("W/").strip('"') == bare for t in header.split(","))


def _not_modified(entry: Entry, etag: str, headers: dict[str, str]) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None:
        return _etag_matches(inm, etag)
    ims = headers.get("if-modified-since")
    if ims:
        try:
            return int(entry.mtime) <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
    return False


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(start, end inclusive) for one satisfiable range, False if unsatisfiable, None to ignore."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multipart ranges: serve the whole entity
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return False
            return (max(0, size - n), size - 1) if size else False
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or end < start and start < size:
        return None
    if start >= size:
        return False
    return start, min(end, size - 1)


class StaticFiles:
    """ASGI app serving files below ``base`` (a directory or a zip-format archive)."""

    def __init__(self, base: Path, welcome_files: Sequence[str] = ("index.html", "index.htm"),
                 list_directories: bool = False):
        base = Path(base)
        self.source: DirSource | ZipSource = DirSource(base) if base.is_dir() else ZipSource(base)
        self.welcome_files = tuple(welcome_files)
        self.list_directories = list_directories

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await error(send, 405, scope, [(b"allow", b"GET, HEAD")])
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        rel = path[len(root):] if root and path.startswith(root) else path
        parts = clean_parts(rel)
        if parts is None:
            await error(send, 404, scope)
            return
        info = scope.get("deployer.context")
        welcome = getattr(info, "welcome_files", None) or self.welcome_files
        entry = await asyncio.to_thread(self._find, parts, welcome, rel.endswith("/"))
        if entry is None:
            await error(send, 404, scope)
            return
        if entry.is_dir:
            if not rel.endswith("/"):
                location = quote(path + "/", safe="/;=,@:!$&'()*+~")
                qs = scope.get("query_string", b"")
                loc = location.encode() + (b"?" + qs if qs else b"")
                await _respond(send, 302, b"", [(b"location", loc)])
            elif self.list_directories:
                body = await asyncio.to_thread(self._listing, entry, path, bool(parts))
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body",
                            "body": b"" if method == "HEAD" else body})
            else:
                await error(send, 403, scope)
            return
        await self._send_file(scope, send, entry, method == "HEAD")

    def _listing(self, entry: Entry, path: str, has_parent: bool) -> bytes:
        """An HTML index of a directory: names escaped in text and in links; protected names and
        dot files left out."""
        names = sorted(n for n in self.source.list(entry)
                       if not n.startswith(".") and n.rstrip("/").lower() not in PROTECTED)
        title = html.escape(path)
        rows = "".join(
            f'<li><a href="{html.escape(quote(n), quote=True)}">{html.escape(n)}</a></li>'
            for n in names)
        up = '<li><a href="../">../</a></li>' if has_parent else ""  # not above the context
        return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Index of {title}"
                f"</title></head><body><h1>Index of {title}</h1><ul>{up}{rows}</ul></body>"
                "</html>\n").encode()

    def _find(self, parts: list[str], welcome: Sequence[str], slash: bool) -> Entry | None:
        entry = self.source.stat(parts)
        if entry is None or not entry.is_dir or not slash:
            return entry
        for name in welcome:
            child = self.source.stat([*parts, name])
            if child is not None and not child.is_dir:
                return child
        return entry

    async def _send_file(self, scope: dict, send: Any, entry: Entry, head: bool) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        etag = etag_of(entry)
        common = [
            (b"etag", etag.encode()),
            (b"last-modified", formatdate(entry.mtime, usegmt=True).encode()),
            (b"accept-ranges", b"bytes"),
        ]
        if _not_modified(entry, etag, headers):
            await _respond(send, 304, b"", common, length=False)
            return
        size = entry.size
        status, start, end = 200, 0, size - 1
        rng = headers.get("range")
        if_range = headers.get("if-range")
        if rng and (if_range is None or _etag_matches(if_range, etag)
                    or if_range == formatdate(entry.mtime, usegmt=True)):
            parsed = parse_range(rng, size)
            if parsed is False:
                unsatisfied = (b"content-range", f"bytes */{size}".encode())
                await _respond(send, 416, b"", [*common, unsatisfied])
                return
            if parsed:
                status, (start, end) = 206, parsed
                common.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
        length = end - start + 1 if size else 0
        name = entry.key.rsplit("/", 1)[-1]
        common += [(b"content-type", content_type(name).encode()),
                   (b"content-length", str(length).encode())]
        await send({"type": "http.response.start", "status": status, "headers": common})
        if head or length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        read = self.source.read
        if length <= SMALL:
            body = await asyncio.to_thread(read, entry, start, length)
            await send({"type": "http.response.body", "body": body})
            return
        pos, stop = start, start + length
        while pos < stop:
            n = min(CHUNK, stop - pos)
            chunk = await asyncio.to_thread(read, entry, pos, n)
            if not chunk:
                break
            pos += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": pos < stop})


async def _respond(send: Any, status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]] | None = None, length: bool = True) -> None:
    hdrs = list(headers or [])
    if length:
        hdrs.append((b"content-length", str(len(body)).encode()))
        if body:
            hdrs.append((b"content-type", b"text/plain; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})
