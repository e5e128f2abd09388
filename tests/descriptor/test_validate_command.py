"""`deployer validate`: exit codes, text and JSON output, the whole corpus, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.cli import main
from tests.descriptor.helpers import write

DESCRIPTORS = Path(__file__).resolve().parents[1] / "descriptors"


def test_valid_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '<Set name="contextPath">/a</Set>')
    assert main(["validate", str(path)]) == 0
    assert "1 descriptor(s) checked: 1 valid, 0 invalid" in capsys.readouterr().out


def test_directory_is_its_xml_files_sorted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, '<Set name="contextPath">nope</Set>', name="b.xml")
    write(tmp_path, '<Set name="lazyLoad">x</Set>', name="a.xml")
    (tmp_path / "notes.txt").write_text("ignored")
    assert main(["validate", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'a.xml'}:4:1: ")
    assert lines[1].startswith(f"{tmp_path / 'b.xml'}:4:1: ")
    assert lines[2] == "2 descriptor(s) checked: 0 valid, 2 invalid, 2 problem(s)"


def test_missing_path_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.xml")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_properties_reach_the_descriptor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '<Set name="contextPath"><Property name="cp"/></Set>'
                           '<Set name="displayName"><SystemProperty name="dn"/></Set>')
    assert main(["validate", str(path)]) == 1  # contextPath null
    assert main(["validate", str(path), "--property", "cp=/x", "-D", "dn=y"]) == 0


def test_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "", name="good.xml")
    bad = DESCRIPTORS / "bad-boolean.xml"
    assert main(["validate", "--format", "json", str(good), str(bad)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert [f["ok"] for f in doc["files"]] == [True, False]
    assert doc["files"][1]["problems"] == [{
        "file": str(bad), "line": 9, "column": 5,
        "message": "HashSessionManager.lazyLoad expects a boolean (true or false), got 'yes'"}]


def test_console_script_never_prints_a_traceback() -> None:
    out = subprocess.run([sys.executable, "-m", "deployer", "validate", str(DESCRIPTORS)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr


def test_whole_corpus_gives_0_or_1_with_located_messages(
        corpus: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    for path in corpus:
        code = main(["validate", str(path)])
        out = capsys.readouterr()
        assert code in (0, 1), path
        assert "Traceback" not in out.out + out.err and "internal error" not in out.out
        for line in out.out.splitlines()[:-1]:
            assert line.startswith(f"{path}:"), line
            assert line.split(":")[1].isdigit(), line


def test_shipped_contexts_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    contexts = Path(__file__).resolve().parents[2] / "contexts"
    if not any(contexts.glob("*.xml")):
        pytest.skip("no shipped contexts/")
    assert main(["validate", str(contexts)]) == 0, capsys.readouterr().out


def test_a_reader_that_leaves_early_is_no_traceback() -> None:
    argv = [sys.executable, "-m", "deployer", "validate", *[str(DESCRIPTORS)] * 40]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 1 and "Traceback" not in err
    proc.stderr.close()
