"""One descriptor file -> Descriptor: hardened parse, schema, evaluation; every problem at once.

The property map is WebAppProvider's (JETTY.md 1.9): jetty.home (default "."), jetty.base (default:
the parent of the descriptor's directory, as a Jetty base keeps its descriptors in webapps/),
jetty.webapp (the descriptor's canonical path) and jetty.webapps (its directory), their ``.uri``
forms as ``file:`` URIs (JETTY.md §10), then the caller's properties on top. SystemProperty sees
the JVM's usual ones with their natural Python values (user.dir, user.home, java.io.tmpdir...),
jetty.home and jetty.base, then ``-D`` values on top.
"""

from __future__ import annotations

import getpass
import os
import platform
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from lxml import etree

from deployer.descriptor.interpret import Interpreter
from deployer.descriptor.locator import Locator
from deployer.descriptor.parser import parse_file
from deployer.descriptor.schema import iter_problems
from deployer.descriptor.specs import Descriptor, ServerSpec
from deployer.errors import DescriptorError, DescriptorErrors, UsageError


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME (a bare container)
        return str(os.getuid()) if hasattr(os, "getuid") else ""


def natural_system_properties() -> dict[str, str]:
    """The JVM system properties Jetty files read, as this process sees them (JETTY.md §10)."""
    return {
        "user.dir": os.getcwd(),
        "user.home": os.path.expanduser("~"),
        "user.name": _user_name(),
        "java.io.tmpdir": tempfile.gettempdir(),
        "file.separator": os.sep,
        "path.separator": os.pathsep,
        "line.separator": os.linesep,
        "os.name": platform.system(),
        "os.arch": platform.machine(),
    }


def default_jetty_base(webapps: str | Path) -> str:
    """jetty.base when nobody set it: the parent of the descriptors' directory (a Jetty base
    keeps its descriptors in ``webapps/`` beneath it)."""
    return os.path.dirname(os.path.abspath(webapps))


def descriptor_properties(path: str | Path, properties: Mapping[str, str] | None,
                          system_properties: Mapping[str, str] | None) -> dict[str, str]:
    system = system_properties or {}
    real = os.path.realpath(path)
    webapps = os.path.dirname(real)
    result = {
        "jetty.home": system.get("jetty.home", "."),
        "jetty.base": system.get("jetty.base", default_jetty_base(webapps)),
        "jetty.webapp": real,
        "jetty.webapps": webapps,
    }
    result.update(properties or {})
    for name in ("jetty.home", "jetty.base", "jetty.webapps"):
        where = os.path.join(webapps, os.path.expanduser(result[name]))  # relative: as build
        result.setdefault(f"{name}.uri", Path(os.path.abspath(where)).as_uri())
    return result


def system_properties_of(props: Mapping[str, str],
                         system_properties: Mapping[str, str] | None) -> dict[str, str]:
    return {**natural_system_properties(), "jetty.home": props["jetty.home"],
            "jetty.base": props["jetty.base"], **(system_properties or {})}


def _parse(path: str | Path) -> tuple[etree._ElementTree, Locator, list[DescriptorError]]:
    """The hardened parse (raises DescriptorErrors for a file that is not well-formed XML) and
    the schema's problems, the first steps of a context and a server file alike."""
    tree, locate = parse_file(path)
    return tree, locate, list(iter_problems(tree, locate))


def _interpreter(path: str | Path, locate: Locator, properties: Mapping[str, str] | None,
                 system_properties: Mapping[str, str] | None, environ: Mapping[str, str] | None,
                 server: ServerSpec) -> Interpreter:
    """An interpreter for one file with WebAppProvider's property map and the system
    properties, so a context and a server file see the same values."""
    props = descriptor_properties(path, properties, system_properties)
    return Interpreter(locate, props, system_properties_of(props, system_properties),
                       os.environ if environ is None else environ, server)


def _sorted(warnings: list[DescriptorError]) -> list[DescriptorError]:
    return sorted(warnings, key=lambda w: w.location)


def load_descriptor(path: str | Path, *, properties: Mapping[str, str] | None = None,
                    system_properties: Mapping[str, str] | None = None,
                    environ: Mapping[str, str] | None = None,
                    server: ServerSpec | None = None) -> Descriptor:
    """Evaluate one descriptor; raises DescriptorErrors with all its problems, sorted."""
    tree, locate, problems = _parse(path)
    if problems:
        raise DescriptorErrors(problems)
    interpreter = _interpreter(path, locate, properties, system_properties, environ,
                               server or ServerSpec())
    context = interpreter.run(tree.getroot())
    if interpreter.problems or context is None:
        raise DescriptorErrors(interpreter.problems)
    ids = {k: v for k, v in interpreter.ids.items() if k != "Server"}
    return Descriptor(path=str(path), context=context, ids=ids,
                      properties=dict(interpreter.sources["Property"]),
                      warnings=_sorted(interpreter.warnings))


def check_file(path: str | Path, **kwargs: object
               ) -> tuple[list[DescriptorError], Descriptor | None]:
    """The problems of one descriptor and, when it has none, what it evaluates to (with its
    warnings); never raises for bad input."""
    try:
        return [], load_descriptor(path, **kwargs)  # type: ignore[arg-type]
    except DescriptorErrors as errors:
        return errors.problems, None


def validate_file(path: str | Path, **kwargs: object) -> list[DescriptorError]:
    """The problems of one descriptor ([] when it is valid); never raises for bad input."""
    return check_file(path, **kwargs)[0]


def load_server_config(paths: Sequence[str | Path], *,
                       properties: Mapping[str, str] | None = None,
                       system_properties: Mapping[str, str] | None = None,
                       environ: Mapping[str, str] | None = None) -> ServerSpec:
    """Evaluate server descriptors (jetty.xml-style, session beans only) into one ServerSpec,
    in order and sharing their ids, as Jetty's start.jar chains etc/ files (session-store.xml
    refers to the databaseAdaptor of driver.xml), with their warnings (each file's sorted, in
    file order). Raises DescriptorErrors with every problem."""
    server = ServerSpec()
    ids: dict[str, object] = {}
    problems: list[DescriptorError] = []
    warnings: list[DescriptorError] = []
    for path in paths:
        tree, locate, found = _parse(path)
        if found:
            problems += found
            continue
        interpreter = _interpreter(path, locate, properties, system_properties, environ, server)
        interpreter.ids.update(ids)
        interpreter.run_server(tree.getroot())
        problems += interpreter.problems
        warnings += _sorted(interpreter.warnings)
        ids = interpreter.ids
    if problems:
        raise DescriptorErrors(problems)
    server.warnings = warnings
    return server


def load_configs(paths: Sequence[str | Path], properties: Mapping[str, str],
                 system_properties: Mapping[str, str]) -> ServerSpec | None:
    """``--config``'s server descriptors evaluated together (None without any), for `run` and
    `validate` alike, with the properties the contexts see; a file that is not there is a usage
    error. Raises DescriptorErrors."""
    for path in paths:
        if not Path(path).is_file():
            raise UsageError(f"server descriptor not found: {path}")
    if not paths:
        return None
    return load_server_config(paths, properties=properties, system_properties=system_properties)
