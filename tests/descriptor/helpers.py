"""Writing descriptors into tmp_path and evaluating them."""

from __future__ import annotations

from pathlib import Path

from deployer.descriptor.loader import load_descriptor, validate_file
from deployer.descriptor.specs import ContextSpec, Descriptor

HEAD = ('<?xml version="1.0"?>\n<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" '
        '"http://www.eclipse.org/jetty/configure_9_3.dtd">\n')
WEBAPP = "org.eclipse.jetty.webapp.WebAppContext"


def write(tmp_path: Path, body: str, cls: str = WEBAPP, name: str = "ctx.xml") -> Path:
    path = tmp_path / name
    path.write_text(f'{HEAD}<Configure class="{cls}">\n{body}\n</Configure>\n', encoding="utf-8")
    return path


def load(tmp_path: Path, body: str, cls: str = WEBAPP, **kwargs) -> Descriptor:
    return load_descriptor(write(tmp_path, body, cls), environ=kwargs.pop("environ", {}), **kwargs)


def ctx(tmp_path: Path, body: str, cls: str = WEBAPP, **kwargs) -> ContextSpec:
    return load(tmp_path, body, cls, **kwargs).context


def problems(tmp_path: Path, body: str, cls: str = WEBAPP, **kwargs) -> list[str]:
    path = write(tmp_path, body, cls)
    return [f"{p.location.line}:{p.location.column}: {p.message}"
            for p in validate_file(path, environ=kwargs.pop("environ", {}), **kwargs)]
