"""Two nodes behind a real nginx (Debian's package), round-robin and sticky, on PostgreSQL and
Redis. Skipped where nginx is not installed (`apt-get install nginx-light`; .ci/run does)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.cluster import Cluster, cookie_of
from tests.integration.harness import poll

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")

CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream nodes {{
    {policy}
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://nodes;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
    }}
  }}
}}
"""


class Nginx:
    """nginx in the foreground with a configuration of its own, in front of ``upstreams``
    (host:port each)."""

    def __init__(self, tmp: Path, upstreams: list[str], sticky: bool) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        policy = "hash $cookie_JSESSIONID consistent;" if sticky else ""
        self.conf = tmp / "nginx.conf"
        servers = "\n".join(f"    server {u} max_fails=1 fail_timeout=30s;" for u in upstreams)
        self.conf.write_text(CONF.format(tmp=tmp, policy=policy, servers=servers,
                                         port=self.port))
        self.proc = subprocess.Popen([NGINX, "-c", str(self.conf), "-p", str(tmp), "-e",
                                      str(tmp / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll(lambda: httpx.get(self.url + "/shop/", timeout=5).status_code,
             lambda code: code == 200, timeout=20, what="nginx to answer")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def balanced(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
             ) -> Iterator[tuple[Cluster, Nginx]]:
    a, b = cluster.node("nodeA"), cluster.node("nodeB")
    lb = Nginx(tmp_path, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], sticky=request.param)
    try:
        yield cluster, lb
    finally:
        lb.stop()


def through(lb: Nginx, cookie: str | None = None) -> httpx.Response:
    r = httpx.get(lb.url + "/shop/", headers={"cookie": cookie} if cookie else {}, timeout=20)
    assert r.status_code == 200, r.text
    return r


@pytest.mark.parametrize("balanced", [False, True], ids=["round-robin", "sticky"],
                         indirect=True)
def test_counter_behind_nginx(balanced: tuple[Cluster, Nginx]) -> None:
    cluster, lb = balanced
    first = through(lb)
    cookie = cookie_of(first)
    counts, fronts = [int(first.text)], set()  # the first request had no cookie to hash
    for _ in range(24):
        r = through(lb, cookie)
        counts.append(int(r.text))
        fronts.add(r.headers["x-front"])
    assert counts == list(range(1, 26))
    sticky = "hash" in lb.conf.read_text()
    assert len(fronts) == (1 if sticky else 2)  # round-robin used both nodes


@pytest.mark.parametrize("balanced", [False], ids=["round-robin"], indirect=True)
def test_a_node_killed_behind_nginx_loses_no_acknowledged_increment(
        balanced: tuple[Cluster, Nginx]) -> None:
    cluster, lb = balanced
    clients = 8
    cookies = [cookie_of(through(lb)) for _ in range(clients)]
    acknowledged = [1] * clients
    stop = threading.Event()
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            while not stop.is_set():
                try:
                    r = httpx.get(lb.url + "/shop/", headers={"cookie": cookies[n]}, timeout=20)
                except httpx.TransportError:
                    continue
                if r.status_code != 200:
                    continue  # the balancer's 502 while the node died: not acknowledged
                value = int(r.text)
                assert value > acknowledged[n]
                acknowledged[n] = value
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    poll(lambda: min(acknowledged), lambda v: v >= 6, timeout=60, what="the clients to run")
    cluster.nodes[0].send(signal.SIGKILL)
    cluster.nodes[0].wait_exit()
    before = list(acknowledged)
    poll(lambda: min(a - b for a, b in zip(acknowledged, before, strict=True)),
         lambda v: v >= 5, timeout=60, what="the clients to go on through the other node")
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for n in range(clients):
        after = int(through(lb, cookies[n]).text)
        assert acknowledged[n] + 1 <= after <= acknowledged[n] + 2
