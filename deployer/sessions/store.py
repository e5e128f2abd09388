"""The session store: one SQLite database in WAL mode per store directory (format in FORMAT.md).

Chosen by measurement over a file per session with atomic renames (see FORMAT.md and
bench/bench_sessions.py): one transaction per save is crash-safe (a killed process leaves the
last committed state, never a torn row), 100,000 sessions fit in a few MB instead of 100,000
4 KiB blocks, and a lazy lookup of one id is a primary-key read whatever the count.

Unreadable entries never stop a context: a bad row is deleted (deleteUnrestorableSessions) or
moved to the ``quarantine`` table, and a file that is not a usable database is renamed aside and
replaced by a fresh one. Both are logged with where things went.
"""

from __future__ import annotations

import contextlib
import json
import json.scanner
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from operator import itemgetter
from pathlib import Path
from typing import Any

from deployer.errors import SessionError
from deployer.sessions.ids import is_valid_cluster_id

log = logging.getLogger("deployer.sessions")

DB_NAME = "sessions.db"
FORMAT_NAME = "deployer-sessions"
FORMAT_VERSION = 1
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    accessed REAL NOT NULL,
    last_accessed REAL NOT NULL,
    max_inactive INTEGER NOT NULL,
    attributes TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT, reason TEXT NOT NULL, entry TEXT NOT NULL, at REAL NOT NULL
);
"""

# (id, created, accessed, last_accessed, max_inactive, attributes) -- attributes a dict when
# loaded, its JSON text when saved.
Record = tuple[str, float, float, float, int, Any]


_NUMBER = (float, int)
_scan = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner without loads' wrappers


def _loads(text: str) -> Any:
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("no JSON value at the start") from None
    if end != len(text):
        raise ValueError(f"extra data at character {end}")
    return value


def decode(row: tuple) -> Record:
    """Check one stored row field by field; ValueError says what is wrong with it."""
    if len(row) != 6:
        raise ValueError(f"expected 6 fields, found {len(row)}")
    sid, created, accessed, last, max_inactive, attrs = row
    if not is_valid_cluster_id(sid):
        raise ValueError("invalid session id")
    if (type(created) not in _NUMBER or type(accessed) not in _NUMBER
            or type(last) not in _NUMBER or type(max_inactive) is not int):
        raise ValueError(
            "times/max_inactive are not numbers: "
            f"{[type(v).__name__ for v in (created, accessed, last, max_inactive)]}"
        )
    if attrs == "{}":
        return sid, created, accessed, last, max_inactive, {}
    if type(attrs) is not str:
        raise ValueError(f"attributes are {type(attrs).__name__}, not JSON text")
    try:
        data = _loads(attrs)
    except ValueError as exc:
        raise ValueError(f"attributes are not valid JSON ({exc})") from None
    if type(data) is not dict:
        raise ValueError(f"attributes are a JSON {type(data).__name__}, not an object")
    return sid, created, accessed, last, max_inactive, data


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return not isinstance(exc, sqlite3.OperationalError)


def _transaction(conn: sqlite3.Connection, body: Callable[[sqlite3.Connection], Any]) -> Any:
    """body(conn) in one write transaction: committed whole or rolled back whole."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = body(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return result


class SessionStore:
    """One context's persistent sessions. Thread-safe; the database is opened on first use."""

    def __init__(self, directory: Path | str, *, delete_unrestorable: bool = False,
                 create: bool = True) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.delete_unrestorable = delete_unrestorable
        self._create = create
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self.opens = 0          # how many times the database was opened (lazyLoad proves 0)
        self.rows_read = 0
        self.rows_written = 0
        self.set_aside: list[Path] = []   # unreadable database files renamed out of the way
        self.generation = 0     # bumped when a fresh database replaces an unreadable one
        self.last_bad: list[tuple[tuple, str]] = []

    # -- opening ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def ensure_directory(self) -> None:
        """Create the directory 0700 if missing (Jetty mkdirs on start); reads nothing."""
        if not self.directory.exists():
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.directory, 0o700)
            except OSError as exc:
                raise SessionError(f"cannot create session store {self.directory}: {exc}") from exc
        elif not self.directory.is_dir():
            raise SessionError(f"session store {self.directory} is not a directory")
        elif self.directory.stat().st_mode & 0o077:
            log.warning("session store directory %s is readable by others; 0700 is advised",
                        self.directory)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = self._open()
            except OSError as exc:
                raise SessionError(f"session store {self.path}: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc) or not self._create:
                    raise SessionError(f"session store {self.path}: {exc}") from exc
                self._replace_unreadable(exc)
                self._conn = self._open()
        return self._conn

    def open(self) -> None:
        """Open now: a missing store (inspecting) or an unusable one raises SessionError."""
        with self._lock:
            self._connection()

    def _open(self) -> sqlite3.Connection:
        if not self._create and not self.path.is_file():
            raise SessionError(f"{self.directory} holds no session store (no {DB_NAME})")
        if self._create and not self.path.exists():
            self.ensure_directory()
            self._create_database()
        elif self._create and self._is_empty_file():
            # SQLite takes a 0-byte file for an empty database; ours never is one (it is built
            # beside its name, schema included): something lost the sessions, say so
            raise sqlite3.DatabaseError("the file is empty (0 bytes)")
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=10.0)
        try:
            self._check_format(conn)  # before any pragma: a foreign file is left as it was
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        if self._create:
            os.chmod(self.path, 0o600)
        self.opens += 1
        return conn

    def _is_empty_file(self) -> bool:
        wal = Path(f"{self.path}-wal")
        return self.path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size)

    def _create_database(self) -> None:
        """Build the empty database beside its final name, then rename it into place, so no
        reader (another manager, `deployer sessions`) ever sees a database without its schema."""
        tmp = self.directory / f".{DB_NAME}.{os.getpid()}.{threading.get_ident()}.new"
        os.close(os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o600))
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: openers need no write lock
                conn.executescript(SCHEMA)
                conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [("format", FORMAT_NAME), ("version", str(FORMAT_VERSION))])
            finally:
                conn.close()
            with contextlib.suppress(FileExistsError):  # another creator won: use theirs
                os.link(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _check_format(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            if not self._create:
                raise SessionError(f"{self.path} is not a deployer session store (it is empty)")
            conn.executescript(SCHEMA)
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [("format", FORMAT_NAME), ("version", str(FORMAT_VERSION))])
            return
        meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if meta.get("format") != FORMAT_NAME or "sessions" not in tables:
            raise sqlite3.DatabaseError("not a deployer session store")
        if int(meta.get("version", "0")) > FORMAT_VERSION:
            raise SessionError(
                f"session store {self.path} has format version {meta['version']}; this deployer "
                f"reads up to {FORMAT_VERSION} (upgrade deployer or point storeDirectory elsewhere)"
            )
        if self._create:
            conn.executescript(SCHEMA)  # tables added by later minor revisions

    def _replace_unreadable(self, exc: Exception) -> None:
        """Rename an unusable database (and its -wal/-shm) aside; the next open starts fresh."""
        self._close_quietly()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.path.with_name(f"{DB_NAME}.unreadable-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{DB_NAME}.unreadable-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.replace(src, f"{target}{suffix}")
        self.set_aside.append(target)
        self.generation += 1
        log.warning("session store %s is unreadable (%s): set aside as %s, starting a fresh one",
                    self.path, exc, target)

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(conn, ...) under the lock; a corrupt database is set aside and retried once."""
        with self._lock:
            try:
                return fn(self._connection(), *args)
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc) or not self._create:
                    raise SessionError(f"session store {self.path}: {exc}") from exc
                self._replace_unreadable(exc)
                return fn(self._connection(), *args)

    # -- reading ------------------------------------------------------------------------------
    def get(self, session_id: str) -> Record | None:
        """The stored session with this cluster id, or None (bad entries are set aside)."""
        if not is_valid_cluster_id(session_id):
            return None
        if self._conn is None and not self.path.exists():
            return None
        rows = self._run(lambda c: c.execute(
            "SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchall())
        self.rows_read += len(rows)
        good = self._decode_all(rows)
        return good[0] if good else None

    def load_all(self) -> list[Record]:
        """Every readable session (bad entries are set aside or deleted, and logged).

        The big read runs on its own connection (WAL readers do not block each other), so a
        lazy get() of one id is not queued behind a background load of 100,000 rows.
        """
        with self._lock:
            if self._conn is None and not self.path.exists():
                return []  # nothing stored yet: the first save creates the database
            self._connection()  # exists, is ours, is readable (or was replaced)
        rows: list[tuple] | None = None
        try:
            side = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False, timeout=10.0)
            try:
                rows = side.execute("SELECT * FROM sessions").fetchall()
            finally:
                side.close()
        except sqlite3.DatabaseError:
            pass  # corruption and the like: the locked path below decides what to do
        if rows is None:
            rows = self._run(lambda c: c.execute("SELECT * FROM sessions").fetchall())
        self.rows_read += len(rows)
        return self._decode_all(rows)

    def _decode_all(self, rows: list[tuple]) -> list[Record]:
        good: list[Record] = []
        bad: list[tuple[tuple, str]] = []
        for row in rows:
            try:
                good.append(decode(row))
            except (ValueError, TypeError, RecursionError) as exc:
                bad.append((row, str(exc)))
        if bad and self._create:  # an inspecting (read-only) store reports, changes nothing
            self._unrestorable(bad)
        self.last_bad = bad
        return good

    def _unrestorable(self, bad: list[tuple[tuple, str]]) -> None:
        now = time.time()

        def act(c: sqlite3.Connection) -> None:
            if not self.delete_unrestorable:
                c.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?)",
                              [(str(r[0]), why, repr(r), now) for r, why in bad])
            c.executemany("DELETE FROM sessions WHERE id = ?", [(r[0],) for r, _ in bad])

        self._run(_transaction, act)
        where = "deleted (deleteUnrestorableSessions)" if self.delete_unrestorable else \
            f"moved to table 'quarantine' of {self.path}"
        for row, why in bad:
            log.warning("session store %s: entry %.40r is unrestorable (%s): %s",
                        self.path, row[0] if row else None, why, where)

    def quarantined(self) -> list[tuple[str, str]]:
        return self._run(lambda c: c.execute("SELECT id, reason FROM quarantine").fetchall())

    def count(self) -> int:
        return self._run(lambda c: c.execute("SELECT count(*) FROM sessions").fetchone()[0])

    # -- writing ------------------------------------------------------------------------------
    def save(self, records: Iterable[Record]) -> int:
        """Insert or replace records (attributes as JSON text) in ONE transaction."""
        rows = sorted(records, key=itemgetter(0))  # in key order: appends, not page splits
        if not rows:
            return 0

        def write(c: sqlite3.Connection) -> None:
            c.executemany("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?)", rows)

        self._run(_transaction, write)
        self.rows_written += len(rows)
        return len(rows)

    def delete(self, session_ids: Iterable[str]) -> int:
        ids = [(i,) for i in session_ids]
        if not ids:
            return 0

        def remove(c: sqlite3.Connection) -> int:
            before = c.total_changes
            c.executemany("DELETE FROM sessions WHERE id = ?", ids)
            return c.total_changes - before

        return self._run(_transaction, remove)

    def expired_ids(self, now: float) -> list[str]:
        """Ids of stored sessions expired at ``now`` (as ``purge`` means it)."""
        return [r[0] for r in self._run(lambda c: c.execute(
            "SELECT id FROM sessions WHERE max_inactive > 0 AND accessed + max_inactive < ?",
            (now,)).fetchall())]

    def purge(self, now: float | None = None, *, everything: bool = False) -> int:
        """Delete expired sessions (max_inactive > 0 and accessed + max_inactive < now)."""
        now = time.time() if now is None else now
        sql = "DELETE FROM sessions" + ("" if everything else
                                        " WHERE max_inactive > 0 AND accessed + max_inactive < ?")
        params = () if everything else (now,)
        return self._run(lambda c: c.execute(sql, params).rowcount)

    # -- closing ------------------------------------------------------------------------------
    def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self) -> None:
        """Close; the last connection checkpoints the WAL into the database file."""
        with self._lock:
            self._close_quietly()
