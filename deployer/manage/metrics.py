"""/metrics in Prometheus' text format, through prometheus_client, on a registry of the run's own.

Requests are counted as they end (Observer calls ``observe``: a cached labelled child per context
and status class, so the cost per request is two increments and a histogram bucket). Everything
the deployment already counts (deploys, sessions, workers) is read when scraped, by a collector,
so serving a request pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from deployer.deploy.app import App
from deployer.deploy.manager import DeploymentManager
from deployer.web.router import normalize_context_path

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNROUTED = "-"  # the context label of a request no context served (the router's 404)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEPLOY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def context_label(app: App) -> str:
    return normalize_context_path(app.spec.context_path) or "/" if app.spec else str(app.path)


class Metrics:
    """The run's metrics: ``observe`` per request, ``deployed`` per deploy event, ``render()``."""

    def __init__(self, manager: DeploymentManager) -> None:
        self.manager = manager
        self.registry = CollectorRegistry()
        self.requests = Counter("deployer_requests", "HTTP requests answered, by context and "
                                "status class", ["context", "status"], registry=self.registry)
        self.latency = Histogram("deployer_request_duration_seconds", "Time to answer a request",
                                 ["context"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.deploy_seconds = Histogram(
            "deployer_redeploy_duration_seconds", "Time from a descriptor's build to its swap "
            "(deploys and redeploys)", ["kind"], buckets=DEPLOY_BUCKETS, registry=self.registry)
        self.registry.register(_Deployed(manager))
        self.tally: dict[str, list[int]] = {}  # context -> [requests, 5xx answers]
        self._children: dict[tuple[str | None, int], tuple[Any, Any, list[int]]] = {}
        manager.on_event = self.deployed

    def observe(self, context: str | None, status: int, seconds: float) -> None:
        key = (context, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._child(context, status)
        count, latency, tally = children
        count.inc()
        latency.observe(seconds)
        tally[0] += 1
        if status >= 500:
            tally[1] += 1

    def _child(self, context: str | None, status: int) -> tuple[Any, Any, list[int]]:
        label = UNROUTED if context is None else context
        klass = f"{status // 100}xx" if status else "none"
        tally = self.tally.setdefault(label, [0, 0])
        return (self.requests.labels(label, klass), self.latency.labels(label), tally)

    def deployed(self, kind: str, app: App, seconds: float) -> None:
        if kind in ("deploy", "redeploy"):
            self.deploy_seconds.labels(kind).observe(seconds)

    def counts(self, app: App) -> tuple[int, int]:
        """(requests, 5xx answers) of an app's context path so far."""
        requests, errors = self.tally.get(context_label(app), (0, 0))
        return requests, errors

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Deployed(Collector):
    """Read at scrape time: deploy events, sessions and workers of every context."""

    def __init__(self, manager: DeploymentManager) -> None:
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        counts = self.manager.counts
        events = CounterMetricFamily("deployer_deploy_events", "Deploys, redeploys, failures and "
                                     "undeploys since the start", labels=["kind"])
        for kind in ("deploy", "redeploy", "failure", "undeploy"):
            events.add_metric([kind], counts[kind])
        yield events
        apps = [a for _, a in sorted(self.manager.apps.items())]
        active = GaugeMetricFamily("deployer_sessions_active", "Sessions in memory",
                                   labels=["context"])
        made = {name: CounterMetricFamily(f"deployer_sessions_{name}", help_, labels=["context"])
                for name, help_ in (("created", "Sessions created"),
                                    ("expired", "Sessions expired (maxInactiveInterval)"),
                                    ("saved", "Sessions written to the store"))}
        timings = {name: HistogramMetricFamily(f"deployer_session_store_{name}_seconds",
                                               f"Session store {name} durations",
                                               labels=["context"])
                   for name in ("save", "load")}
        workers = {name: CounterMetricFamily(f"deployer_worker_{name}", f"Worker process {name}",
                                             labels=["context"])
                   for name in ("starts", "deaths", "restarts")}
        for app in apps:
            label = [context_label(app)]
            sessions = app.sessions
            if sessions is not None:
                stats = sessions.stats
                active.add_metric(label, sessions.sessions if app.context is not None else 0)
                for name, family in made.items():
                    family.add_metric(label, getattr(stats, name))
                for name, family in timings.items():
                    buckets, total = getattr(stats, f"{name}_seconds").cumulative()
                    family.add_metric(label, buckets, total)
            for name, value in app.worker_counts().items():
                workers[name].add_metric(label, value)
        yield active
        yield from made.values()
        yield from timings.values()
        yield from workers.values()
