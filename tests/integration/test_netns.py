"""Two nodes on test hosts of their own (Linux network namespaces made here, each with a veth
link to this host), sharing PostgreSQL or Redis, behind nginx on this host. The servers listen on
this host's loopback only, so each namespace reaches them through an in-process TCP proxy on its
link's address. Needs root and iproute2; skipped otherwise."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import Cluster, cookie_of
from tests.integration.test_load_balancer import NGINX, Nginx, through
from tests.support.tcpproxy import TcpProxy

IP = shutil.which("ip")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or IP is None or NGINX is None,
                                reason="needs root, iproute2 and nginx")


def ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True)  # type: ignore[list-item]


class NetnsHost:
    """A network namespace linked to this host: it is 10.99.N.2, this host 10.99.N.1."""

    def __init__(self, n: int) -> None:
        tag = secrets.token_hex(3)
        self.name, self.veth = f"dpl-{tag}", f"dv{tag}"
        self.gateway, self.address = f"10.99.{n}.1", f"10.99.{n}.2"
        ip("netns", "add", self.name)
        try:
            ip("link", "add", self.veth, "type", "veth", "peer", "name", f"{self.veth}p")
            ip("link", "set", f"{self.veth}p", "netns", self.name)
            ip("addr", "add", f"{self.gateway}/24", "dev", self.veth)
            ip("link", "set", self.veth, "up")
            for args in (("link", "set", "lo", "up"),
                         ("addr", "add", f"{self.address}/24", "dev", f"{self.veth}p"),
                         ("link", "set", f"{self.veth}p", "up")):
                ip("netns", "exec", self.name, IP, *args)  # type: ignore[arg-type]
        except BaseException:
            self.remove()
            raise

    @property
    def prefix(self) -> tuple[str, ...]:
        return (IP, "netns", "exec", self.name)  # type: ignore[return-value]

    def remove(self) -> None:
        subprocess.run([IP, "link", "del", self.veth], capture_output=True)  # type: ignore[list-item]
        subprocess.run([IP, "netns", "del", self.name], capture_output=True)  # type: ignore[list-item]


@pytest.fixture
def hosts() -> Iterator[list[NetnsHost]]:
    made: list[NetnsHost] = []
    try:
        for n in (1, 2):
            made.append(NetnsHost(n + secrets.randbelow(200)))
        yield made
    finally:
        for h in made:
            h.remove()


def test_nodes_on_hosts_of_their_own_share_sessions_behind_nginx(
        cluster: Cluster, hosts: list[NetnsHost], tmp_path: Path) -> None:
    proxies = [TcpProxy(cluster.store, host=h.gateway).start() for h in hosts]
    try:
        nodes = [cluster.node(f"node{i}", port=proxies[i].port, store_host=h.gateway,
                              host=h.address, prefix=h.prefix)
                 for i, h in enumerate(hosts)]
        lb = Nginx(tmp_path, [f"{n.host}:{n.port}" for n in nodes], sticky=False)
        try:
            first = through(lb)
            cookie = cookie_of(first)
            counts, fronts = [int(first.text)], {first.headers["x-front"]}
            for _ in range(19):
                r = through(lb, cookie)
                counts.append(int(r.text))
                fronts.add(r.headers["x-front"])
            assert counts == list(range(1, 21)) and len(fronts) == 2
            nodes[0].send(signal.SIGKILL)  # one test host's node dies
            nodes[0].wait_exit()
            after = [int(through(lb, cookie).text) for _ in range(4)]
            assert after == [21, 22, 23, 24]
        finally:
            lb.stop()
    finally:
        for p in proxies:
            p.stop()
