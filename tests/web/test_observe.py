"""The access log's line format (the HTTP path of it is in tests/manage)."""

from __future__ import annotations

import re
import time

from deployer.web.observe import AccessLog


def scope(**kw: object) -> dict:
    base = {"type": "http", "method": "GET", "path": "/a b", "raw_path": b"/a%20b",
            "query_string": b"q=1", "http_version": "1.1", "client": ("10.0.0.7", 5555),
            "headers": []}
    return base | kw


def test_a_line_is_ncsa_combined() -> None:
    line = AccessLog("-").line(scope(headers=[(b"referer", b"http://x/"),
                                              (b"user-agent", b"curl/8")]), 200, 1234,
                               time.time())
    assert re.fullmatch(r'10\.0\.0\.7 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                        r'"GET /a%20b\?q=1 HTTP/1\.1" 200 1234 "http://x/" "curl/8"\n', line)


def test_quotes_and_control_bytes_cannot_forge_a_line() -> None:
    evil = b'x" 200 1 "-" "-"\n10.0.0.1 - - [forged'
    line = AccessLog("-").line(scope(headers=[(b"user-agent", evil)], raw_path=b"/\x1b[31m"),
                               0, 0, time.time())
    assert line.count("\n") == 1 and line.endswith('"\n')
    assert '\\"' in line and "\\x0a" in line and "\\x1b" in line
    assert ' - 0 ' not in line and '" - - "' in line  # no status, no bytes: "-" for each
