"""One descriptor file -> Descriptor: hardened parse, schema, evaluation; every problem at once.

The property map is WebAppProvider's (JETTY.md 1.9): jetty.home and jetty.base from the system
properties (default "."), jetty.webapp (the descriptor's canonical path) and jetty.webapps (its
directory), then the caller's properties on top.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from deployer.descriptor.interpret import Interpreter
from deployer.descriptor.parser import parse_file
from deployer.descriptor.schema import iter_problems
from deployer.descriptor.specs import Descriptor, ServerSpec
from deployer.errors import DescriptorError, DescriptorErrors


def descriptor_properties(path: str | Path, properties: Mapping[str, str] | None,
                          system_properties: Mapping[str, str] | None) -> dict[str, str]:
    system = system_properties or {}
    real = os.path.realpath(path)
    result = {
        "jetty.home": system.get("jetty.home", "."),
        "jetty.base": system.get("jetty.base", "."),
        "jetty.webapp": real,
        "jetty.webapps": os.path.dirname(real),
    }
    result.update(properties or {})
    return result


def load_descriptor(path: str | Path, *, properties: Mapping[str, str] | None = None,
                    system_properties: Mapping[str, str] | None = None,
                    environ: Mapping[str, str] | None = None,
                    server: ServerSpec | None = None) -> Descriptor:
    """Evaluate one descriptor; raises DescriptorErrors with all its problems, sorted."""
    tree, locate = parse_file(path)
    problems = list(iter_problems(tree, locate))
    if problems:
        raise DescriptorErrors(problems)
    props = descriptor_properties(path, properties, system_properties)
    interpreter = Interpreter(
        locate, props, dict(system_properties or {}),
        os.environ if environ is None else environ, server or ServerSpec(),
    )
    context = interpreter.run(tree.getroot())
    if interpreter.problems or context is None:
        raise DescriptorErrors(interpreter.problems)
    ids = {k: v for k, v in interpreter.ids.items() if k != "Server"}
    return Descriptor(path=str(path), context=context, ids=ids, properties=props)


def validate_file(path: str | Path, **kwargs: object) -> list[DescriptorError]:
    """The problems of one descriptor ([] when it is valid); never raises for bad input."""
    try:
        load_descriptor(path, **kwargs)  # type: ignore[arg-type]
    except DescriptorErrors as errors:
        return errors.problems
    return []


def load_server_config(paths: Sequence[str | Path], *,
                       properties: Mapping[str, str] | None = None,
                       system_properties: Mapping[str, str] | None = None,
                       environ: Mapping[str, str] | None = None) -> ServerSpec:
    """Evaluate server descriptors (jetty.xml-style, session beans only) into one ServerSpec,
    in order and sharing their ids, as Jetty's start.jar chains etc/ files (session-store.xml
    refers to the databaseAdaptor of driver.xml). Raises DescriptorErrors with every problem."""
    server = ServerSpec()
    ids: dict[str, object] = {}
    problems = []
    for path in paths:
        tree, locate = parse_file(path)
        found = list(iter_problems(tree, locate))
        if found:
            problems += found
            continue
        props = descriptor_properties(path, properties, system_properties)
        interpreter = Interpreter(
            locate, props, dict(system_properties or {}),
            os.environ if environ is None else environ, server,
        )
        interpreter.ids.update(ids)
        interpreter.run_server(tree.getroot())
        problems += interpreter.problems
        ids = interpreter.ids
    if problems:
        raise DescriptorErrors(problems)
    return server
