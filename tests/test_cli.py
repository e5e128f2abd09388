"""The command line's own contract: usage errors exit 2, --version answers."""

from __future__ import annotations

import subprocess
import sys

from deployer.cli import main


def test_no_command_is_usage_error(capsys) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_unknown_option_is_usage_error(capsys) -> None:
    assert main(["validate", "--no-such-option", "x.xml"]) == 2


def test_bad_property_syntax_is_usage_error(capsys) -> None:
    assert main(["validate", "--property", "novalue", "x.xml"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_console_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "deployer", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert out.stdout.startswith("deployer ")


def test_run_on_a_file_says_it_is_not_a_directory(tmp_path, capsys) -> None:
    (tmp_path / "README.md").write_text("hi")
    assert main(["run", str(tmp_path / "README.md")]) == 2
    err = capsys.readouterr().err
    assert "is not a directory" in err and "not found" not in err
    assert main(["run", str(tmp_path / "missing")]) == 2
    assert "contexts directory not found" in capsys.readouterr().err


def test_help_gives_defaults_and_every_sub_command_a_description(capsys) -> None:
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 127.0.0.1)" in text and "(default 10)" in text and "default 8080" in text
    for command in (["run"], ["validate"], ["migrate"], ["sessions"]):
        assert main([*command, "--help"]) == 0
        usage, _, rest = capsys.readouterr().out.partition("\n\n")
        assert not rest.startswith(("positional", "options")), command
