"""Hypothesis: any bytes give DescriptorErrors (located), never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployer.descriptor.loader import load_descriptor, validate_file
from deployer.errors import DescriptorErrors

TAGS = ["Configure", "Set", "Get", "Put", "Call", "New", "Arg", "Ref", "Array", "Item", "Map",
        "Entry", "Property", "SystemProperty", "Env", "Id", "Name", "Class", "Type", "Default",
        "Deprecated", "Foo"]
ATTRS = ["name", "class", "id", "refid", "type", "default", "deprecated", "arg", "item",
         "property"]
VALUES = ["contextPath", "war", "lazyLoad", "sessionHandler", "sessionManager", "int", "boolean",
          "String", "org.eclipse.jetty.webapp.WebAppContext", SM := "org.eclipse.jetty.server."
          "session.HashSessionManager", "Server", "getSessionIdManager", "setInitParameter", "x",
          "", "/a", "true", "yes", "a,b", "1"]


def _element(depth: int) -> st.SearchStrategy[str]:
    attrs = st.lists(st.tuples(st.sampled_from(ATTRS), st.sampled_from(VALUES)), max_size=3,
                     unique_by=lambda t: t[0])
    children = st.lists(_element(depth - 1) if depth > 0 else st.sampled_from(VALUES), max_size=3)
    return st.builds(
        lambda tag, a, kids: f"<{tag}{''.join(f' {k}={chr(34)}{v}{chr(34)}' for k, v in a)}>"
                             f"{''.join(kids)}</{tag}>",
        st.sampled_from(TAGS), attrs, children | st.lists(st.sampled_from(VALUES), max_size=2))


DOCS = st.builds(
    lambda kids, cls: f'<Configure class="{cls}">{"".join(kids)}</Configure>',
    st.lists(_element(3), max_size=4),
    st.sampled_from(["org.eclipse.jetty.webapp.WebAppContext", SM, "x.Y",
                     "org.eclipse.jetty.server.handler.ContextHandler"]),
)


def _check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.xml"
        path.write_bytes(data)
        try:
            load_descriptor(path, environ={})
        except DescriptorErrors as errors:
            assert errors.problems
            for p in errors.problems:
                assert p.location.file == str(path) and p.message
        assert isinstance(validate_file(path, environ={}), list)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_structured_documents_never_crash(doc: str) -> None:
    _check(doc.encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet="<>/=\"' &;!?[]-CSetonfigur", max_size=200)
       .map(str.encode))
def test_random_bytes_never_crash(data: bytes) -> None:
    _check(data)
