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
import signal
import sys
import time
from pathlib import Path

from deployer.errors import UsageError
from deployer.web.protocol import HttpLimits

log = logging.getLogger("deployer")


def _configure_logging(level: str) -> None:
    """deployer's lines, and watchdog's (an inotify overflow, a watch it could not add) in the
    same shape, with a timestamp, instead of Python's bare last-resort handler."""
    for name, least in (("deployer", level.upper()), ("watchdog", "WARNING")):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {name}: %(message)s"))
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(max(logging.getLevelName(least), logging.getLevelName(level.upper())))
        logger.propagate = False


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
    try:
        limits = HttpLimits(max_head=args.max_request_head, header_timeout=args.header_timeout,
                            max_per_client=args.max_connections_per_client)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _configure_logging(args.log_level)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(serve(args, limits))
    return uvloop.run(serve(args, limits))


async def serve(args: argparse.Namespace, limits: HttpLimits) -> int:
    """Deploy, listen, wait for a signal, shut down in order."""
    from deployer.deploy.build import WorkerDefaults
    from deployer.deploy.manager import DeploymentManager
    from deployer.deploy.provider import Provider
    from deployer.web.router import Router
    from deployer.web.server import Server

    started = time.perf_counter()
    router = Router()
    server = Server(router, args.host, args.port, limits=limits)
    try:
        server.bind()  # before any app is imported: a taken port fails in a moment
    except OSError as exc:
        return _cannot_listen(args, exc)
    manager = DeploymentManager(
        router,
        properties=dict(args.properties),
        system_properties=dict(args.system_properties),
        drain_timeout=args.drain_timeout,
        worker_name=args.worker_name,
        worker_defaults=WorkerDefaults(args.workers, args.threads),
    )
    provider = Provider(
        Path(args.directory), manager.apply, dependencies=manager.dependencies,
        scan_interval=args.scan_interval, poll=args.poll,
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, provider.wake)
    try:
        await provider.start()
        deployed = sum(1 for a in manager.apps.values() if a.context is not None)
        log.info("%d of %d contexts deployed from %s in %.1f ms", deployed, len(manager.apps),
                 provider.directory, (time.perf_counter() - started) * 1000)
        try:
            await server.start()
        except OSError as exc:
            return _cannot_listen(args, exc)
        log.info("ready: %d contexts on http://%s:%d", deployed, args.host, server.port)
        if args.scan_interval == 0:
            log.info("scan interval 0: no hot deployment")
        await stopping.wait()
        log.info("stopping: draining requests in flight (at most %.1f s)", args.drain_timeout)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await provider.stop()
        with contextlib.suppress(Exception):
            await server.stop(args.drain_timeout)
        await manager.stop()
        log.info("stopped")
    return 0


def _cannot_listen(args: argparse.Namespace, exc: OSError) -> int:
    log.error("cannot listen on %s:%d: %s", args.host, args.port, exc.strerror or exc)
    return 1
