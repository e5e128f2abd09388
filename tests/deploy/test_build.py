"""Specs to running objects: path resolution, session settings, Jetty's init-param overrides."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from deployer.deploy.build import (
    INIT_COOKIE,
    INIT_DOMAIN,
    INIT_MAX_AGE,
    INIT_PATH_PARAMETER,
    WorkerDefaults,
    build_context,
    resolve,
    resolve_path,
    session_config,
    session_tracking,
)
from deployer.descriptor.specs import ContextSpec, SessionHandlerSpec, SessionManagerSpec
from deployer.errors import AppLoadError, DescriptorErrors, Location
from deployer.lifecycle import State
from deployer.sessions.manager import SessionIdManager


def test_relative_paths_resolve_against_the_descriptor_directory(tmp_path: Path) -> None:
    assert resolve_path("../app", tmp_path / "contexts") == (tmp_path / "app").resolve()
    assert resolve_path("file:" + str(tmp_path), Path("/elsewhere")) == tmp_path.resolve()
    assert resolve_path(str(tmp_path / "x"), Path("/elsewhere")) == (tmp_path / "x").resolve()


def test_missing_war_names_the_line_where_it_was_set(tmp_path: Path) -> None:
    desc = tmp_path / "a.xml"
    spec = ContextSpec(kind="webapp", war="./nowhere")
    spec.locations["war"] = Location(str(desc), 5, 3)
    with pytest.raises(DescriptorErrors) as info:
        resolve(spec, desc)
    assert str(info.value).startswith(f"{desc}:5:3: war {tmp_path / 'nowhere'} does not exist")


def test_webapp_has_sessions_by_default_and_store_resolves(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    spec = ContextSpec(kind="webapp", war="app")
    assert resolve(spec, tmp_path / "a.xml").manager == SessionManagerSpec()
    plain = ContextSpec(kind="context", resource_base="app")
    assert resolve(plain, tmp_path / "a.xml").manager is None
    spec.session_handler = SessionHandlerSpec(
        session_manager=SessionManagerSpec(store_directory="s/x"))
    assert resolve(spec, tmp_path / "a.xml").store == (tmp_path / "s" / "x").resolve()


def test_session_config_defaults_to_webdefault_timeout() -> None:
    config = session_config(SessionManagerSpec(lazy_load=True, save_period=5), None)
    assert config.max_inactive_interval == 1800 and config.lazy_load and config.save_period == 5
    assert session_config(SessionManagerSpec(max_inactive_interval=-1), None) \
        .max_inactive_interval == -1


def test_init_params_override_the_manager_as_jetty_does() -> None:
    manager = SessionManagerSpec(session_cookie="MINE", http_only=True, session_domain="a.test")
    spec = ContextSpec(init_params={
        INIT_COOKIE: "THEIRS", INIT_PATH_PARAMETER: "none", INIT_DOMAIN: "b.test",
        INIT_MAX_AGE: " 60 ",
    })
    tracking = session_tracking(spec, manager)
    assert tracking.cookie_name == "THEIRS"  # always overrides
    assert tracking.path_parameter is None  # "none" disables URL rewriting
    assert tracking.domain == "a.test"  # only when the manager left it unset
    assert tracking.max_age == 60  # only when still -1
    assert tracking.http_only
    manager.max_cookie_age = 5
    assert session_tracking(spec, manager).max_age == 5


def test_bad_max_age_is_a_descriptor_error() -> None:
    spec = ContextSpec(init_params={INIT_MAX_AGE: "soon"}, location=Location("a.xml", 2, 1))
    with pytest.raises(DescriptorErrors, match="a.xml:2:1: .*MaxAge must be an integer"):
        session_tracking(spec, SessionManagerSpec())


def test_a_broken_app_builds_a_context_whose_workers_fail_to_start(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "wsgi.py").write_text("raise RuntimeError('boom')\n")
    spec = ContextSpec(kind="webapp", war="app")
    resolved = resolve(spec, tmp_path / "a.xml")
    context, sessions = build_context(spec, resolved, SessionIdManager(), "a")
    assert sessions is not None and context.spec is not None
    with pytest.raises(AppLoadError) as info:
        asyncio.run(context.astart())
    assert "boom" in info.value.traceback_text and context.state is State.FAILED
    context.stop()


def test_worker_settings_reach_the_worker_spec(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "asgi.py").write_text("")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    spec = ContextSpec(kind="webapp", war="app", workers=3, threads=7, virtualenv="venv",
                       environment={"GREETING": "hi"}, python_path=["shared"], max_requests=50,
                       start_timeout=9, request_timeout=4)
    resolved = resolve(spec, tmp_path / "a.xml")
    context, _ = build_context(spec, resolved, SessionIdManager("node1"), "a",
                               defaults=WorkerDefaults(workers=2, threads=2),
                               environ={"PATH": "/usr/bin", "PYTHONHOME": "/elsewhere"})
    worker = context.spec
    assert worker is not None
    assert (worker.workers, worker.threads, worker.max_requests) == (3, 7, 50)
    assert (worker.start_timeout, worker.request_timeout) == (9.0, 4.0)
    assert worker.python == str(venv / "bin" / "python") and worker.kind == "asgi"
    assert worker.env["GREETING"] == "hi" and worker.env["VIRTUAL_ENV"] == str(venv)
    assert worker.env["PATH"] == f"{venv / 'bin'}:/usr/bin" and "PYTHONHOME" not in worker.env
    assert worker.paths == (str(tmp_path / "shared"),) and worker.worker_name == "node1"
    plain = ContextSpec(kind="webapp", war="app")
    context, _ = build_context(plain, resolve(plain, tmp_path / "a.xml"), SessionIdManager(),
                               "b", defaults=WorkerDefaults(workers=2, threads=5), environ={})
    assert context.spec is not None and (context.spec.workers, context.spec.threads) == (2, 5)
    assert context.spec.python == sys.executable


def test_a_virtualenv_without_python_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    desc = tmp_path / "a.xml"
    spec = ContextSpec(kind="webapp", war="app", virtualenv="nowhere")
    spec.locations["virtualenv"] = Location(str(desc), 7, 3)
    with pytest.raises(DescriptorErrors, match=r"a.xml:7:3: virtualenv .*nowhere has no "):
        resolve(spec, desc)
