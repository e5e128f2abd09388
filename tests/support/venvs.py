"""Virtual environments with real frameworks in them, built once per machine and reused.

The framework tests (and the benchmarks) run webapps under Flask, Django and FastAPI in an
interpreter of their own, named by a descriptor's ``virtualenv`` exactly as a user would: never
deployer's own venv, which must not need any framework. Building one is a run of pip, so it is
kept under ``~/.cache/deployer`` (``DEPLOYER_CACHE`` moves it) in a directory named by a
hash of what is in it, and reused when present.

A half-built environment is never reused: it is built in a temporary directory beside its final
place and renamed into place in one step once pip has succeeded (what a killed build leaves is
removed by the next one); a file lock makes a second process that wants the same environment at
the same time wait for the first one's, then reuse it. Building one takes about 20 s here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

# Exact pins for what the tests name; pip resolves what they need (Werkzeug, Starlette, ...).
DEFAULT_PACKAGES: tuple[str, ...] = ("flask==3.1.3", "django==5.2.19", "fastapi==0.165.0")
PIP_TIMEOUT = 900.0  # seconds for one pip install: a slow mirror, not a hung one


def cache_root() -> Path:
    return Path(os.environ.get("DEPLOYER_CACHE") or "~/.cache/deployer").expanduser()


def _key(kind: str, packages: Sequence[str]) -> str:
    """Names what the directory holds: the packages and the interpreter that installs them."""
    what = {"kind": kind, "packages": sorted(packages), "python": platform.python_version(),
            "base": sys.base_prefix, "machine": platform.machine()}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # waits while another process builds the same thing
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(args: list[str | os.PathLike[str]], what: str) -> None:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=PIP_TIMEOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def _build_once(final: Path, build: Callable[[Path], None]) -> Path:
    """``final`` if it exists, else ``build(tmp)`` beside it and rename tmp into place."""
    if final.is_dir():
        return final
    with _locked(final.with_name(final.name + ".lock")):
        if final.is_dir():  # built by the process we waited for
            return final
        for stale in final.parent.glob(f".{final.name}.*"):  # a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            build(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def _pip(python: Path | str, *args: str) -> list[str | os.PathLike[str]]:
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--quiet", *args]


def _retarget_scripts(venv: Path, old: Path, new: Path) -> None:
    """A venv's scripts name its directory in their ``#!`` line (and ``activate`` in its text);
    they are rewritten for the place the venv is renamed to, so ``bin/django-admin`` runs."""
    before, after = str(old).encode(), str(new).encode()
    for entry in (venv / "bin").iterdir():
        if entry.is_symlink() or not entry.is_file():
            continue
        data = entry.read_bytes()
        if before in data:
            entry.write_bytes(data.replace(before, after))


def framework_venv(packages: Sequence[str] = DEFAULT_PACKAGES) -> Path:
    """A virtualenv directory (with ``bin/python``) that has ``packages`` installed from PyPI."""
    packages = tuple(packages)
    final = cache_root() / "venvs" / _key("venv", packages)

    def build(tmp: Path) -> None:
        bare = [] if packages else ["--without-pip"]
        _run([sys.executable, "-m", "venv", *bare, tmp], f"python -m venv {tmp}")
        if packages:
            _run(_pip(tmp / "bin" / "python", *packages), f"pip install {' '.join(packages)}")
        _retarget_scripts(tmp, tmp, final)

    return _build_once(final, build)


def lib_dir(packages: Sequence[str]) -> Path:
    """A directory made by ``pip install --target`` (what a war's ``lib/`` holds), cached like
    the venvs; copy it into a war rather than writing to it."""
    packages = tuple(packages)
    final = cache_root() / "libs" / _key("target", packages)

    def build(tmp: Path) -> None:
        _run(_pip(sys.executable, "--no-deps", "--no-compile", "--target", str(tmp),
                  *packages), f"pip install --target {tmp} {' '.join(packages)}")

    return _build_once(final, build)


def install_lib(war: Path, packages: Sequence[str]) -> Path:
    """``war/lib`` holding ``packages``, as ``pip install --target war/lib`` would leave it."""
    lib = war / "lib"
    shutil.copytree(lib_dir(packages), lib, dirs_exist_ok=True)
    return lib


if __name__ == "__main__":  # build ahead of a test run: python -m tests.support.venvs
    print(framework_venv())
