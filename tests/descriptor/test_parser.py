"""Hardened parsing: Jetty's DOCTYPEs offline, and every attack refused quickly with nothing read."""
# ruff: noqa: E501  (XML fixtures read best on one line)

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from deployer.descriptor.loader import validate_file
from deployer.descriptor.parser import MAX_BYTES, is_jetty_doctype, parse
from deployer.errors import DescriptorErrors

BODY = ('<Configure class="org.eclipse.jetty.webapp.WebAppContext">'
        '<Set name="contextPath">/x</Set></Configure>\n')
DOCTYPES = [
    '<!DOCTYPE Configure PUBLIC "-//Mort Bay Consulting//DTD Configure//EN" '
    '"http://jetty.mortbay.org/configure.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Mort Bay Consulting//DTD Configure 1.2//EN" '
    '"http://jetty.mortbay.org/configure_1_2.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Mort Bay Consulting//DTD Configure 1.3//EN" '
    '"http://jetty.mortbay.org/configure_1_3.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://jetty.eclipse.org/configure.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://jetty.mortbay.org/configure_6_0.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_7_6.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_0.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Mort Bay Consulting//DTD Configure//EN" '
    '"http://www.eclipse.org/jetty/configure_9_0.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_9_3.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://www.eclipse.org/jetty/configure_10_0.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN"\n  "http://www.eclipse.org/jetty/configure.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Mort Bay Consulting//\nDTD Configure//EN" '
    '"http://jetty.mortbay.org/configure.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Mort Bay Consulting//DTD Configure//EN" "\nhttp://jetty.mortbay.org/configure.dtd">',
    '<!DOCTYPE Configure SYSTEM "configure_9_3.dtd">',
    '<!DOCTYPE Configure PUBLIC "-//Unknown//EN" "http://example.com/dtd/configure_7_6.dtd">',
    "",
]


@pytest.mark.parametrize("doctype", DOCTYPES)
@pytest.mark.parametrize("decl", ['<?xml version="1.0" encoding="ISO-8859-1"?>\n', ""])
def test_every_jetty_doctype_is_accepted_offline(tmp_path: Path, doctype: str, decl: str) -> None:
    path = tmp_path / "d.xml"
    path.write_text(f"{decl}{doctype}\n{BODY}", encoding="latin-1")
    assert validate_file(path, environ={}) == []


def test_doctype_recognition_follows_jettys_three_steps() -> None:
    assert is_jetty_doctype("-//Jetty//Configure//EN", "http://evil.example/x.dtd")
    assert is_jetty_doctype("-//Other//EN", "http://x/configure_10_0.dtd")
    assert not is_jetty_doctype("-//Other//EN", "http://x/other.dtd")
    assert not is_jetty_doctype(None, "http://x/configure.dtd.evil")
    assert is_jetty_doctype("-//Mort Bay Consulting//DTD\n  Configure//EN", None)


def test_external_entity_reading_a_local_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE Configure [<!ENTITY s SYSTEM "file://{secret}">]>\n'
        '<Configure class="org.eclipse.jetty.webapp.WebAppContext">'
        '<Set name="displayName">&s;</Set></Configure>', encoding="utf-8")
    found = validate_file(path, environ={})
    assert len(found) == 1 and "entity declarations are refused" in found[0].message
    assert found[0].location.line == 2
    assert all("TOP-SECRET" not in str(p) for p in found)


def test_parameter_entity_xxe_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pxxe.xml"
    path.write_text('<!DOCTYPE Configure [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'
                    "<Configure/>", encoding="utf-8")
    found = validate_file(path, environ={})
    assert "entity declarations are refused" in found[0].message
    assert "root:" not in str(found)


class _Listener:
    """A local TCP server counting connections: proof that nothing is fetched."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("public_id", ["-//Jetty//Configure//EN", "-//Evil//EN"])
def test_external_dtd_is_never_fetched(tmp_path: Path, public_id: str) -> None:
    listener = _Listener()
    try:
        url = f"http://127.0.0.1:{listener.port}/configure_9_3.dtd"
        for i, doc in enumerate([
            f'<!DOCTYPE Configure PUBLIC "{public_id}" "{url}">{BODY}',
            f'<!DOCTYPE Configure SYSTEM "http://127.0.0.1:{listener.port}/x.dtd">{BODY}',
            f'<!DOCTYPE Configure [<!ENTITY % r SYSTEM "{url}"> %r;]>{BODY}',
        ]):
            path = tmp_path / f"dtd{i}.xml"
            path.write_text(doc, encoding="utf-8")
            validate_file(path, environ={})
        # a connection attempt would have been accepted long before this: the listener is idle
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline and listener.connections == 0:
            time.sleep(0.02)
        assert listener.connections == 0
    finally:
        listener.stop()


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{"&lol%s;" % ("" if i == 1 else i - 1) * 10}">' for i in range(1, 10)]
    path = tmp_path / "laughs.xml"
    path.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE Configure [{"".join(lines)}]>\n'
                    '<Configure class="org.eclipse.jetty.webapp.WebAppContext">'
                    '<Set name="displayName">&lol9;</Set></Configure>', encoding="utf-8")
    start = time.perf_counter()
    found = validate_file(path, environ={})
    assert time.perf_counter() - start < 0.5
    assert "entity declarations are refused" in found[0].message


def test_a_100_mb_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    with open(path, "wb") as f:
        f.write(b"<Configure>")
        f.truncate(100 * 1024 * 1024)  # sparse: costs no disk, would cost 100 MB to read
    start = time.perf_counter()
    found = validate_file(path, environ={})
    assert time.perf_counter() - start < 0.5
    assert len(found) == 1 and f"{MAX_BYTES:,} bytes" in found[0].message
    assert "104,857,600" in found[0].message


def test_not_well_formed_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text("<Configure>\n  <Set name='a'>\n</Configure>\n", encoding="utf-8")
    with pytest.raises(DescriptorErrors) as info:
        parse(path)
    problem = info.value.problems[0]
    assert problem.location.line == 3 and problem.location.column > 0
    assert "not well-formed XML" in problem.message


@pytest.mark.parametrize("data", [b"", b"   ", b"\xff\xfe\x00garbage", b"<a", b"<?xml?>"])
def test_garbage_is_a_located_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "g.xml"
    path.write_bytes(data)
    found = validate_file(path, environ={})
    assert found and found[0].location.file == str(path)


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    found = validate_file(tmp_path / "nope.xml")
    assert "cannot read file" in found[0].message


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)
    found = validate_file(fifo)
    assert "not a regular file" in found[0].message


@pytest.mark.parametrize(("encoding", "prefix"), [("utf-8", b"\xef\xbb\xbf"), ("utf-16", b"")])
def test_bom_and_utf16_keep_columns(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    text = (f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
            '<Configure class="org.eclipse.jetty.webapp.WebAppContext">\n  <Set name="nope">x</Set>'
            "</Configure>")
    path = tmp_path / "enc.xml"
    path.write_bytes(prefix + text.encode(encoding))
    found = validate_file(path, environ={})
    assert [(p.location.line, p.location.column) for p in found] == [(3, 3)]


def test_parsing_from_many_threads_at_once(tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_text(BODY, encoding="utf-8")
    bad = tmp_path / "bad.xml"
    bad.write_text("<Configure><Set></Configure>", encoding="utf-8")
    invalid = tmp_path / "invalid.xml"
    invalid.write_text('<Configure class="x" foo="1"><Set nmae="a"/></Configure>',
                       encoding="utf-8")
    results: list[tuple[int, ...]] = []

    def work() -> None:
        for _ in range(50):
            results.append((len(validate_file(good, environ={})), len(validate_file(bad)),
                            len(validate_file(invalid))))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 200 and set(results) == {(0, 1, 3)}


CONFIGURE = '<?xml version="1.0"?>\n<Configure class="org.eclipse.jetty.webapp.WebAppContext">\n'


@pytest.mark.parametrize(("body", "message", "line"), [
    # ~400,000 attributes in 4 MiB: validation took 12-51 s and 0.8-1 GB, one error each;
    # counted in the bytes, never parsed
    ('  <Set name="contextPath" ' + " ".join(f'a{i}=""' for i in range(390_000)) + ">/x</Set>\n",
     "more than 10,016 '=' by here: more than 10,000 attributes", 3),
    ('  <Set name="a">' + "<New/>" * 12_000 + "</Set>\n",
     "more than 10,016 '<' by here: more than 5,000 elements", 3),
    # within the byte counts, the parsed tree is checked before the schema
    ('  <Set name="contextPath" ' + " ".join(f'a{i}=""' for i in range(40)) + ">/x</Set>\n",
     "<Set> has 41 attributes; at most 32 are read", 3),
    ("".join(f'  <Set name="x{i}"/>\n' for i in range(6000)), "more than 5,000 elements", 5002),
    ("".join(f'  <Set name="x{i}" a="" b="">v</Set>\n' for i in range(3335)),
     "more than 10,000 attributes in all", 3336),
    ('  <Set name="a">' + "<New>" * 70 + "</New>" * 70 + "</Set>\n",
     "elements nested more than 64 deep", 3),
    ('  <Set name="a">' + "x" * 100_000 + "</Set>\n",
     "a text of more than 65,536 characters in or after <Set>", 3),
])
def test_the_shape_of_a_descriptor_is_bounded_before_validation(
        tmp_path: Path, body: str, message: str, line: int) -> None:
    path = tmp_path / "huge.xml"
    path.write_text(CONFIGURE + body + "</Configure>\n")
    problems = validate_file(path)
    assert len(problems) == 1, problems[:3]
    assert message in problems[0].message and problems[0].location.line == line, problems[0]
    assert str(problems[0]).startswith(f"{path}:{line}:")
