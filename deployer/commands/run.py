"""`deployer run [DIR]`: the front: the server, the router, the provider, and the workers.

The initial descriptors are deployed before the port opens, so the first request never sees a
half-deployed server. SIGTERM/SIGINT stop gracefully: the listener closes, requests in flight
finish (bounded by --drain-timeout), every context stops (sessions with a store are saved), exit 0.
SIGHUP forces a rescan.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from deployer.errors import UsageError
from deployer.logs import configure
from deployer.web.protocol import HttpLimits

if TYPE_CHECKING:
    from deployer.descriptor.specs import ServerSpec

log = logging.getLogger("deployer")


def manager_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (loopback); port 0 picks one."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--manager expects HOST:PORT (port 0..65535), got {text!r}")
    return host, int(port)


def execute(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if not directory.exists():
        raise UsageError(f"contexts directory not found: {directory}")
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory (run serves a directory of *.xml)")
    if args.scan_interval < 0:
        raise UsageError("--scan-interval must be >= 0")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    if not 1 <= args.workers <= 256:
        raise UsageError(f"--workers must be 1..256, got {args.workers}")
    if not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads must be 1..1024, got {args.threads}")
    properties = run_properties(args)
    server_spec = None
    if args.config:  # before logging and the loop: a bad file is a plain error, exit 1
        from deployer.descriptor.loader import load_configs

        server_spec = load_configs(args.config, properties, dict(args.system_properties))
    if args.manager is not None:
        args.manager = manager_address(args.manager)
    try:
        limits = HttpLimits(max_head=args.max_request_head, header_timeout=args.header_timeout,
                            max_per_client=args.max_connections_per_client)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    configure(args.log_level, args.log_format)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(serve(args, limits, properties, server_spec))
    return uvloop.run(serve(args, limits, properties, server_spec))


def run_properties(args: argparse.Namespace) -> dict[str, str]:
    """``--property`` values with jetty.base defaulted to the parent of DIR (unless ``-D`` sets
    it): one map for --config's server files and the contexts, so both read one jetty.base."""
    from deployer.descriptor.loader import default_jetty_base

    properties = dict(args.properties)
    if not _jetty_base_given(args):
        properties["jetty.base"] = default_jetty_base(Path(args.directory).resolve())
    return properties


def _jetty_base_given(args: argparse.Namespace) -> bool:
    return "jetty.base" in dict(args.properties) or "jetty.base" in dict(args.system_properties)


async def serve(args: argparse.Namespace, limits: HttpLimits, properties: dict[str, str],
                server_spec: ServerSpec | None = None) -> int:
    """Deploy, listen, wait for a signal, shut down in order; ``properties`` are
    run_properties', ``server_spec`` is --config's."""
    from deployer.deploy.build import WorkerDefaults
    from deployer.deploy.manager import DeploymentManager
    from deployer.deploy.provider import Provider
    from deployer.web.router import Router
    from deployer.web.server import Server

    started = time.perf_counter()
    router = Router(connector=args.connector_name)
    system = dict(args.system_properties)
    if not _jetty_base_given(args):
        log.info("jetty.base is %s, the parent of %s (--property jetty.base=... to change it)",
                 properties["jetty.base"], args.directory)
    else:
        log.info("jetty.base is %s", properties.get("jetty.base", system.get("jetty.base")))
    for warning in server_spec.warnings if server_spec is not None else ():
        log.warning("%s", warning)  # as a context's are when it deploys
    manager = DeploymentManager(
        router,
        properties=properties,
        system_properties=dict(args.system_properties),
        drain_timeout=args.drain_timeout,
        worker_name=args.worker_name,
        worker_defaults=WorkerDefaults(args.workers, args.threads),
        server=server_spec,
    )
    provider = Provider(
        Path(args.directory), manager.apply, dependencies=manager.dependencies,
        scan_interval=args.scan_interval, poll=args.poll,
    )
    metrics = None
    if args.manager is not None:
        from deployer.manage.metrics import Metrics
        metrics = Metrics(manager)
    access_log = None
    if args.access_log:
        from deployer.web.observe import AccessLog
        access_log = AccessLog(args.access_log)
        access_log.open()
    front: object = router
    observer = None
    if metrics is not None or access_log is not None:
        from deployer.web.observe import Observer
        front = observer = Observer(router, metrics, access_log)
    from deployer.web.direct import DirectPath
    server = Server(front, args.host, args.port, limits=limits,
                    forwarded_allow_ips=args.forwarded_allow_ips if args.proxy_headers else None,
                    direct=DirectPath(router, observer))
    try:
        server.bind()  # before any app is imported: a taken port fails in a moment
    except OSError as exc:
        if access_log is not None:
            access_log.close()
        return _cannot_listen(args, exc)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, provider.wake)
    console = None
    try:
        await provider.start()
        deployed = sum(1 for a in manager.apps.values() if a.answers)
        log.info("%d of %d contexts deployed from %s in %.1f ms", deployed, len(manager.apps),
                 provider.directory, (time.perf_counter() - started) * 1000)
        try:
            await server.start()
        except OSError as exc:
            return _cannot_listen(args, exc)
        log.info("ready: %d contexts on http://%s:%d", deployed, args.host, server.port)
        if metrics is not None:
            console = await _start_manager(args, manager, metrics)
            if console is None:
                return 1
        if args.scan_interval == 0:
            log.info("scan interval 0: no hot deployment")
        await stopping.wait()
        log.info("stopping: draining requests in flight (at most %.1f s)", args.drain_timeout)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await provider.stop()
        if console is not None:
            with contextlib.suppress(Exception):
                await console.stop(0)
        with contextlib.suppress(Exception):
            await server.stop(args.drain_timeout)
        await manager.stop()
        if access_log is not None:
            access_log.close()
        log.info("stopped")
    return 0


def _cannot_listen(args: argparse.Namespace, exc: OSError) -> int:
    log.error("cannot listen on %s:%d: %s", args.host, args.port, exc.strerror or exc)
    return 1


async def _start_manager(args: argparse.Namespace, manager: object, metrics: object) -> object:
    """The manager listener (page, API, /metrics, health) with its token; None if it cannot
    listen. A generated token is written 0600 to --manager-token-file."""
    from deployer.manage.app import LOOPBACK_NAMES, ManagerApp, write_token
    from deployer.web.server import Server

    host, port = args.manager
    token = args.manager_token or secrets.token_urlsafe(32)
    if not args.manager_token:
        token_file = Path(args.manager_token_file)
        write_token(token_file, token)
        log.info("manager token written to %s (mode 0600)", token_file)
    loopback = host in LOOPBACK_NAMES
    if not loopback:
        log.warning("the manager listens on %s, not on loopback: anyone who can reach it can "
                    "read it; its actions still need the token", host)
    console = Server(ManagerApp(manager, metrics, token, loopback=loopback),  # type: ignore[arg-type]
                     host, port, name="manager")
    try:
        await console.start()
    except OSError as exc:
        log.error("manager: cannot listen on %s:%d: %s", host, port, exc)
        return None
    log.info("manager on http://%s:%d/ (metrics at /metrics)",
             f"[{host}]" if ":" in host else host, console.port)
    return console
