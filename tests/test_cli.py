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
