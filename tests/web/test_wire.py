"""The wire's own rules, on any input: an app's headers become lines only when each pair is one
good line, and frames come out whole however the bytes are cut."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployer.worker import wire

TOKEN_CHARS = "!#$%&'*+.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"
TOKEN = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                       exclude_characters="\x7f"), max_size=20)
ANY_TEXT = st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=20)


def latin1(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


@given(st.lists(st.tuples(TOKEN, VALUE), max_size=8))
def test_good_headers_become_lines_that_split_back(pairs: list[tuple[str, str]]) -> None:
    raw = latin1(pairs)
    lines = wire.response_header_lines(raw)
    assert wire.response_header_lines(pairs, text=True) == lines
    assert wire.split_header_lines(lines) == raw


@given(st.lists(st.tuples(TOKEN, VALUE), max_size=4), st.tuples(ANY_TEXT, ANY_TEXT),
       st.lists(st.tuples(TOKEN, VALUE), max_size=4))
def test_headers_are_lines_only_when_every_pair_is_one_good_line(
        before: list[tuple[str, str]], odd: tuple[str, str],
        after: list[tuple[str, str]]) -> None:
    pairs = [*before, odd, *after]
    name, value = odd
    good = (bool(name) and all(c in TOKEN_CHARS for c in name)
            and all(0x20 <= ord(c) <= 0xFF and c != "\x7f" or c == "\t" for c in value))
    if good:
        lines = wire.response_header_lines(pairs, text=True)
        assert len(wire.split_header_lines(lines)) == len(pairs)
    else:
        with pytest.raises(ValueError, match="invalid"):
            wire.response_header_lines(pairs, text=True)


def test_a_value_that_smuggles_a_second_header_names_its_pair() -> None:
    with pytest.raises(ValueError, match="'X-A'"):
        wire.response_header_lines([("X-A", "1\r\nSet-Cookie: evil=1")], text=True)
    with pytest.raises(ValueError, match="b'x-a'"):
        wire.response_header_lines([(b"x-a", b"1\r\nset-cookie: evil=1")])
    with pytest.raises(ValueError, match="name"):
        wire.response_header_lines([(b"x-a: 1\r\nx-b", b"2")])
    with pytest.raises(ValueError):
        wire.response_header_lines([("X-A", b"bytes in a WSGI header")], text=True)


@given(st.lists(st.tuples(st.sampled_from(sorted(wire.KINDS)), st.integers(0, 2**32 - 1),
                          st.binary(max_size=300)), max_size=6),
       st.lists(st.integers(1, 64), max_size=20))
def test_frames_come_out_whole_however_the_bytes_are_cut(
        frames: list[tuple[int, int, bytes]], cuts: list[int]) -> None:
    data = b"".join(wire.frame(kind, stream, payload) for kind, stream, payload in frames)
    reader, out, pos = wire.FrameReader(), [], 0
    for size in cuts:
        out += reader.feed(data[pos:pos + size])
        pos += size
    out += reader.feed(data[pos:])
    assert out == frames and reader.pending == 0
