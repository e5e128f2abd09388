"""The command line: parses arguments, dispatches to deployer.commands.*, picks exit codes.

Exit codes: 0 success, 1 a problem with the input (invalid descriptor, failed migration),
2 bad usage.
Expected errors (DeployerError) print one message and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from deployer import __version__
from deployer.errors import DeployerError, UsageError


def _key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _add_properties(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--property", dest="properties", metavar="NAME=VALUE", action="append",
        type=_key_value, default=[], help="a <Property> value for descriptors (repeatable)",
    )
    p.add_argument(
        "-D", dest="system_properties", metavar="NAME=VALUE", action="append",
        type=_key_value, default=[], help="a <SystemProperty> value (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deployer", description="Deploy Jetty-style XML context descriptors as Python webapps."
    )
    parser.add_argument("--version", action="version", version=f"deployer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run", help="serve the descriptors of a directory, redeploying on change",
        description="Serve every *.xml descriptor of DIR (default contexts/) and redeploy what "
                    "changes. SIGTERM/SIGINT stop gracefully, SIGHUP rescans.")
    run.add_argument("directory", nargs="?", default="contexts", help="default: contexts/")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8080,
                     help="default 8080; 0 picks a free port and logs it")
    run.add_argument(
        "--scan-interval", type=float, default=1.0,
        help="seconds between rescans (default 1); 0 deploys once and does not watch",
    )
    run.add_argument("--poll", action="store_true", help="poll only (network file systems)")
    run.add_argument("--drain-timeout", type=float, default=10.0,
                     help="seconds requests in flight may take to finish at a redeploy or a stop "
                          "(default 10)")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="worker processes per Python webapp whose descriptor does not set "
                          "workers (default 1)")
    run.add_argument("--threads", type=int, default=4, metavar="N",
                     help="requests at once per WSGI worker where threads is not set (default 4)")
    run.add_argument("--worker-name", metavar="NAME",
                     help="HashSessionIdManager workerName, shared by every context "
                          "(session ids end in .NAME where nodeIdInSessionId is set)")
    run.add_argument("--max-request-head", type=int, default=8192, metavar="BYTES",
                     help="request line + headers; longer answers 414/431 (default 8192)")
    run.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                     help="seconds for a request head to arrive, else 408 and close (default 10)")
    run.add_argument("--max-connections-per-client", type=int, default=256, metavar="N",
                     help="open connections per client address; more are closed (default 256)")
    run.add_argument("--connector-name", metavar="NAME",
                     help="the listener's connector name, what virtualHosts entries @NAME "
                          "match (default: none, as Jetty's)")
    run.add_argument("--proxy-headers", action="store_true",
                     help="believe X-Forwarded-Proto/-For and Forwarded from "
                          "--forwarded-allow-ips (a TLS proxy in front)")
    run.add_argument("--forwarded-allow-ips", default="127.0.0.1", metavar="ADDRS",
                     help="comma-separated addresses or networks trusted with proxy headers, "
                          "* for all (default 127.0.0.1)")
    run.add_argument("--config", action="append", default=[], metavar="SERVER.XML",
                     help="a server descriptor (<Configure id=\"Server\" class=\"org.eclipse."
                          "jetty.server.Server\">): session beans every context uses, e.g. a "
                          "JDBC or Redis SessionDataStoreFactory (repeatable; ids are shared)")
    run.add_argument("--log-level", default="info",
                     choices=["debug", "info", "warning", "error"], help="default info")
    run.add_argument("--log-format", default="text", choices=["text", "json"],
                     help="json: one JSON object a line, for log shippers")
    run.add_argument("--access-log", metavar="PATH|-",
                     help="NCSA combined access log to PATH (- for stdout); off by default")
    run.add_argument("--manager", metavar="HOST:PORT",
                     help="the manager page, API, /metrics, /healthz and /readyz on a listener "
                          "of their own (PORT alone: loopback; port 0 picks one and logs it)")
    run.add_argument("--manager-token", metavar="TOKEN",
                     help="the token the manager's actions need (default: a new one each start, "
                          "written to --manager-token-file)")
    run.add_argument("--manager-token-file", metavar="PATH", default="manager.token",
                     help="where a generated token is written, mode 0600 (default: "
                          "./manager.token)")
    _add_properties(run)

    val = sub.add_parser(
        "validate", help="check descriptors (schema + evaluation), start nothing",
        description="Check descriptors against the schema and evaluate them; print every "
                    "problem as path:line:col: message. Exit 0 when all are valid, 1 otherwise.")
    val.add_argument("paths", nargs="+", metavar="PATH", help="descriptor files or directories")
    val.add_argument("--format", choices=["text", "json"], default="text")
    val.add_argument("--strict", action="store_true",
                     help="warnings fail too (a war or module missing on this machine)")
    val.add_argument("--config", action="append", default=[], metavar="SERVER.XML",
                     help="server descriptors, checked and evaluated as run --config does; "
                          "the contexts are checked against their session beans (repeatable)")
    _add_properties(val)

    mig = sub.add_parser(
        "migrate", help="turn Jetty configurations into descriptors deployer runs",
        description="Turn Jetty 6-12 context descriptors, Jetty 9.4 session configuration and "
                    "jetty-maven-plugin pom.xml sections into descriptors deployer runs, with a "
                    "report of what was kept, changed and dropped.")
    mig.add_argument("sources", nargs="+", metavar="SRC", help="files or directories")
    mig.add_argument("--out", metavar="DIR", help="where the migrated descriptors go")
    mig.add_argument("--dry-run", action="store_true", help="print the report only")
    mig.add_argument("--format", choices=["text", "json"], default="text")

    st = sub.add_parser(
        "status", help="the contexts of a running deployer, from its manager",
        description="Print the contexts of a running deployer (state, version, sessions, "
                    "errors), read from its manager listener.")
    st.add_argument("--manager", metavar="URL", default="http://127.0.0.1:8081",
                    help="the manager listener (default http://127.0.0.1:8081)")
    st.add_argument("--format", choices=["text", "json"], default="text")

    ses = sub.add_parser(
        "sessions", help="inspect a session store directory",
        description="Inspect the session store of a storeDirectory: list its sessions, show one "
                    "with its attributes, purge expired ones.")
    ses_sub = ses.add_subparsers(dest="action", metavar="ACTION")
    ls = ses_sub.add_parser("list", help="one line per stored session")
    ls.add_argument("store")
    ls.add_argument("--format", choices=["text", "json"], default="text")
    show = ses_sub.add_parser("show", help="one session with its attributes")
    show.add_argument("store")
    show.add_argument("session_id")
    purge = ses_sub.add_parser("purge", help="delete expired sessions (or all with --all)")
    purge.add_argument("store")
    purge.add_argument("--all", action="store_true", help="delete every session")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if args.command is None or (args.command == "sessions" and args.action is None):
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"deployer.commands.{args.command}")
    try:
        return int(module.execute(args))
    except UsageError as exc:
        print(f"deployer: {exc}", file=sys.stderr)
        return 2
    except DeployerError as exc:
        print(f"deployer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
