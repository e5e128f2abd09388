"""Validate + evaluate 1,000 generated descriptors on one core; print descriptors per second.

    python bench/bench_descriptors.py [COUNT]

Target: 1,000 descriptors in under 1 s. Each descriptor is a realistic context (DOCTYPE, Property
concatenation, virtual hosts, init params, a SessionHandler with a HashSessionManager referring to
the Server's id manager), so the figure covers the whole pipeline: bounded read, hardened parse,
XSD validation, column location, evaluation.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from deployer.descriptor.loader import load_descriptor
from deployer.descriptor.schema import compiled
from deployer.descriptor.specs import ServerSpec

TEMPLATE = """<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure id="wac" class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/app{n}</Set>
  <Set name="war"><Property name="jetty.base" default="."/>/webapps/app{n}</Set>
  <Set name="virtualHosts">
    <Array type="String"><Item>app{n}.example.com</Item><Item>www.app{n}.example.com</Item></Array>
  </Set>
  <Call name="setInitParameter"><Arg>greeting</Arg><Arg>hello {n}</Arg></Call>
  <Ref refid="Server"><Call id="idMgr" name="getSessionIdManager"/></Ref>
  <Set name="sessionHandler">
    <New class="org.eclipse.jetty.server.session.SessionHandler">
      <Arg>
        <New class="org.eclipse.jetty.server.session.HashSessionManager">
          <Set name="sessionIdManager"><Ref refid="idMgr"/></Set>
          <Set name="storeDirectory"><Property name="jetty.base" default="."/>/sessions/app{n}</Set>
          <Set name="lazyLoad">true</Set>
          <Set name="maxInactiveInterval">1800</Set>
        </New>
      </Arg>
    </New>
  </Set>
</Configure>
"""


def main(count: int = 1000) -> None:
    compiled()  # the XSD is compiled once per process; not part of the per-file cost
    server = ServerSpec()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n in range(count):
            path = Path(tmp) / f"app{n}.xml"
            path.write_text(TEMPLATE.format(n=n), encoding="utf-8")
            paths.append(path)
        load_descriptor(paths[0], server=server, environ={})  # warm up imports and caches
        start, cpu_start = time.perf_counter(), time.process_time()
        for path in paths:
            load_descriptor(path, server=server, environ={})
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
    print(f"{count} descriptors validated and evaluated in {elapsed:.3f} s wall, {cpu:.3f} s CPU "
          f"= {count / elapsed:,.0f} descriptors/s ({count / cpu:,.0f} per CPU-second; "
          f"{elapsed / count * 1e6:.0f} us each)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
