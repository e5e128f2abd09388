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
    path = write(tmp_path, '<Set name="contextPath">/a</Set><Set name="war">.</Set>')
    assert main(["validate", str(path)]) == 0
    assert "1 descriptor(s) checked: 1 valid, 0 invalid" in capsys.readouterr().out


def test_directory_is_its_xml_files_sorted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, '<Set name="contextPath">nope</Set><Set name="war">.</Set>', name="b.xml")
    write(tmp_path, '<Set name="lazyLoad">x</Set><Set name="war">.</Set>', name="a.xml")
    (tmp_path / "notes.txt").write_text("ignored")
    assert main(["validate", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'a.xml'}:4:1: ")
    assert lines[1].startswith(f"{tmp_path / 'b.xml'}:4:1: ")
    assert lines[2] == "2 descriptor(s) checked: 0 valid, 2 invalid, 2 problem(s), 0 warning(s)"


def test_missing_path_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.xml")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_properties_reach_the_descriptor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '<Set name="contextPath"><Property name="cp"/></Set>'
                           '<Set name="displayName"><SystemProperty name="dn"/></Set>'
                           '<Set name="war">.</Set>')
    assert main(["validate", str(path)]) == 1  # contextPath null
    assert main(["validate", str(path), "--property", "cp=/x", "-D", "dn=y"]) == 0


def test_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, '<Set name="war">.</Set>', name="good.xml")
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


def test_what_run_would_refuse_is_reported(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11 item 13: errors for the file itself, warnings for what depends on the machine
    (exit code unchanged unless --strict), and run's own warnings."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "there.py").write_text("application = None\n")
    empty = write(tmp_path, '<Set name="contextPath">/e</Set>', name="empty.xml")
    nowar = write(tmp_path, '<Set name="war">gone</Set>', name="nowar.xml")
    nomod = write(tmp_path, '<Set name="war">app</Set><Set name="application">not_here.mod:app'
                            '</Set>', name="nomod.xml")
    good = write(tmp_path, '<Set name="war">app</Set><Set name="application">there:application'
                           '</Set><Set name="extractWAR">false</Set>', name="good.xml")
    assert main(["validate", str(empty)]) == 1
    assert f"{empty}:3:1: no war or resourceBase set" in capsys.readouterr().out
    assert main(["validate", str(nowar), str(nomod), str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{nowar}:4:1: warning: war {tmp_path / 'gone'} does not exist" in out
    assert f"{nomod}:4:26: warning: application module 'not_here.mod' is not found" in out
    assert f"{good}:4:73: warning: WebAppContext.extractWAR only tunes the JVM" in out
    assert out.endswith("3 descriptor(s) checked: 3 valid, 0 invalid, 0 problem(s), "
                        "3 warning(s)\n")
    assert main(["validate", "--strict", str(nowar), str(good)]) == 1
    assert "0 valid, 2 invalid" in capsys.readouterr().out
    assert main(["validate", "--strict", "--format", "json", str(nomod)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["files"][0]["ok"] is True
    assert "not_here.mod" in doc["files"][0]["warnings"][0]["message"]


def test_server_descriptors_are_checked_with_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`validate --config` checks server descriptors as `run --config` evaluates them (issue 9's
    closing note: validate could not check them), and the contexts beside them."""
    from tests.descriptor.test_session_stores import ADAPTOR, STORE_94, server_file

    pkg = "org.eclipse.jetty.server.session"
    good = server_file(tmp_path, ADAPTOR.format(pkg=pkg) + STORE_94.format(pkg=pkg))
    (tmp_path / "shop").mkdir()
    context = write(tmp_path, '<Set name="contextPath">/shop</Set><Set name="war">shop</Set>',
                    name="shop.xml")
    assert main(["validate", "--config", str(good), str(context)]) == 0
    assert "2 descriptor(s) checked: 2 valid, 0 invalid" in capsys.readouterr().out
    assert main(["validate", "--config", str(good), str(tmp_path)]) == 0  # not checked twice
    assert "2 descriptor(s) checked: 2 valid" in capsys.readouterr().out

    oracle = server_file(tmp_path, f'''
  <New class="{pkg}.DatabaseAdaptor">
    <Call name="setDriverInfo">
      <Arg>oracle.jdbc.OracleDriver</Arg>
      <Arg>jdbc:oracle:thin:@db:1521:orcl</Arg>
    </Call>
  </New>''', name="oracle.xml")
    assert main(["validate", "--config", str(oracle), str(context)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{oracle}:6:5: ") and "jdbc:postgresql://" in lines[0]
    assert lines[-1].startswith("2 descriptor(s) checked: 1 valid, 1 invalid")
    assert main(["validate", "--config", str(tmp_path / "none.xml"), str(context)]) == 2


def test_config_warnings_are_shown_as_a_contexts_are(tmp_path: Path) -> None:
    """load_server_config dropped its interpreter's warnings, so `validate --config` never showed
    any: an empty <Ref> to an id no file gave (null, as in Jetty) is a warning in a server file
    as in a context, in the text and JSON output alike, and --strict counts it."""
    from tests.descriptor.test_session_stores import server_file

    config = server_file(tmp_path, '''
  <Call name="addBean"><Arg>
    <New class="org.eclipse.jetty.server.session.FileSessionDataStoreFactory">
      <Set name="storeDir">sessions</Set>
    </New>
  </Arg></Call>
  <Ref refid="databaseAdaptor"/>''')
    (tmp_path / "shop").mkdir()
    context = write(tmp_path, '<Set name="contextPath">/shop</Set><Set name="war">shop</Set>'
                              '<Ref refid="nothing"/>', name="shop.xml")

    def validate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deployer", "validate", *args],
                              capture_output=True, text=True, timeout=60)

    out = validate("--config", str(config), str(context))
    assert out.returncode == 0, out.stderr
    known = "(known ids: Server); it gives null, as in Jetty"
    assert out.stdout.splitlines() == [
        f"{config}:10:3: warning: no object has id 'databaseAdaptor' at this point {known}",
        f"{context}:4:62: warning: no object has id 'nothing' at this point {known}",
        "2 descriptor(s) checked: 2 valid, 0 invalid, 0 problem(s), 2 warning(s)"]
    out = validate("--strict", "--format", "json", "--config", str(config), str(context))
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert [f["file"] for f in doc["files"]] == [str(config), str(context)]
    assert [w["line"] for w in doc["files"][0]["warnings"]] == [10]
