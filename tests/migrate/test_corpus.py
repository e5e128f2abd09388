"""Every file of the shared Jetty corpus migrates without a traceback; every context descriptor
gives a descriptor deployer validates, with contextPath, war/resourceBase, virtual hosts and
session settings carried exactly (compared with an independent reading of the source)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.descriptor.loader import load_descriptor, validate_file
from deployer.migrate.api import migrate
from deployer.migrate.report import Action, Status
from tests.migrate import sourcevalues as sv

CONTEXT_ROOTS = ("WebAppContext", "JettyWebAppContext", "ContextHandler", "ServletContextHandler",
                 "Context", "MovedContextHandler")


def _is_context_source(path: Path) -> bool:
    root = sv.tree(path)
    cls = (root.get("class") or "").rsplit(".", 1)[-1]
    return root.tag == "Configure" and cls in CONTEXT_ROOTS


@pytest.fixture(scope="module")
def migrated(tmp_path_factory, request):
    from tests.conftest import corpus_files
    files = corpus_files()
    if not files:
        pytest.skip("../shared/jetty-corpus is not beside the repository")
    out = tmp_path_factory.mktemp("migrated")
    return files, out, migrate(files, out)


def test_every_file_gets_a_result_and_no_traceback(migrated):
    files, _, results = migrated
    assert [r.source for r in results] == [str(f) for f in files]
    for r in results:
        assert r.status is not Status.FAILED, r.summary()
        assert r.findings or r.status is Status.NOT_A_CONTEXT, r.summary()
        for f in r.findings:
            assert f.line >= 0 and f.message


def test_context_descriptors_validate(migrated):
    _, _, results = migrated
    contexts = 0
    for r in results:
        path = Path(r.source)
        if r.source.endswith("pom.xml") or _is_context_source(path):
            contexts += 1
            assert r.status in (Status.AS_IS, Status.WITH_CHANGES, Status.INCOMPLETE), r.summary()
            assert r.output and validate_file(r.output) == [], r.summary()
        elif r.server:  # a server file's session beans: a descriptor for `run --config`
            assert r.status in (Status.AS_IS, Status.WITH_CHANGES), r.summary()
            assert r.output and Path(r.output).parent.name == "server", r.summary()
        else:
            assert r.status is Status.NOT_A_CONTEXT, r.summary()
            assert r.output is None
    assert contexts >= 35


def test_dropped_parts_stay_visible_as_comments(migrated):
    """Every statement dropped is in the output as a comment naming its source line; session
    settings dropped inside a rewritten session block are in the 'rewrote' comment."""
    _, _, results = migrated
    seen = 0
    for r in results:
        if r.output is None:
            continue
        text = Path(r.output).read_text(encoding="utf-8")
        for f in r.findings:
            if f.action is not Action.DROPPED:
                continue
            seen += 1
            if f"(source line {f.line})" in text:
                continue
            assert "deployer migrate rewrote (source line" in text, (r.source, str(f))
    assert seen >= 60


def test_values_carried_exactly(migrated):
    _, _, results = migrated
    checked = 0
    for r in results:
        path = Path(r.source)
        if r.output is None or not _is_context_source(path):
            continue
        root = sv.tree(path)
        names, sysnames = sv.property_names(root)
        props = {n: f"/prop/{n}" for n in names}
        sysprops = {n: f"/sys/{n}" for n in sysnames}
        spec = load_descriptor(r.output, properties=props, system_properties=sysprops).context
        expected = sv.context_values(root, props, sysprops)
        dropped_lines = {f.line for f in r.findings if f.action is Action.DROPPED}
        if "context_path" in expected:
            assert spec.context_path == expected["context_path"], r.source
        if "war" in expected:
            assert spec.war == expected["war"], r.source
        if "resource_base" in expected:
            assert spec.resource_base == expected["resource_base"], r.source
        if "virtual_hosts" in expected:
            assert spec.virtual_hosts == expected["virtual_hosts"], r.source
        for field, value, line in sv.session_values(root, props, sysprops):
            if line in dropped_lines:
                continue  # reported as dropped (a placeholder such as "seconds")
            assert spec.session_handler is not None, r.source
            got = getattr(spec.session_handler.session_manager, field)
            want: object = value
            if isinstance(got, bool):
                want = value.lower() == "true"
            elif isinstance(got, int):
                want = int(value)
            assert got == want, (r.source, field, line)
        checked += 1
    assert checked >= 30


def test_pom_sections_carried(migrated):
    """contextPath and storeDirectory of the corpus poms, read here with a plain XPath."""
    _, out, results = migrated
    poms = [r for r in results if r.source.endswith("pom.xml")]
    assert len(poms) == 2
    for r in poms:
        root = sv.tree(Path(r.source))
        webapp = root.xpath("//*[local-name()='webApp' or local-name()='webAppConfig']")[0]
        ctx = webapp.xpath("*[local-name()='contextPath']")[0].text.strip()
        store = webapp.xpath(".//*[local-name()='storeDirectory']")[0].text.strip()
        store = store.replace("${basedir}", str(Path(r.source).parent))
        spec = load_descriptor(r.output).context
        assert spec.context_path == ctx
        got = spec.session_handler.session_manager.store_directory
        assert (out / got).resolve() == Path(store).resolve()


def test_migrated_corpus_contexts_deploy(tmp_path):
    """Jetty 6 ContextHandler + ResourceHandler, a MovedContextHandler, a Jetty 12 core context and
    a Jetty 6 WebAppContext on a .war: migrated, then served by a real `deployer run`."""
    import zipfile

    import httpx

    from tests.conftest import CORPUS
    from tests.migrate.test_samples import Run

    pytest.importorskip("deployer.deploy.manager", reason="the deploy layer is not available")
    picks = ["01_", "56_", "68_", "94_"]
    sources = [p for p in sorted(CORPUS.glob("*.xml")) if p.name[:3] in picks]
    if len(sources) != len(picks):
        pytest.skip("../shared/jetty-corpus is not beside the repository")
    base = tmp_path / "base"
    for d, text in (("javadoc", "javadoc"), ("bar", "bar")):
        (base / d).mkdir(parents=True)
        (base / d / "index.html").write_text(text)
    (base / "webapps").mkdir()
    with zipfile.ZipFile(base / "webapps" / "fedora.war", "w") as z:
        z.writestr("index.html", "fedora")
        z.writestr("WEB-INF/web.xml", "<web-app/>")
    contexts = tmp_path / "contexts"
    assert all(r.ok for r in migrate(sources, contexts))
    run = Run(contexts, "-D", f"jetty.home={base}",
              "--property", f"test.bar.resourceBase={base / 'bar'}")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{run.port}", timeout=10) as client:
            for path, body in (("/javadoc/", "javadoc"), ("/bar/", "bar"), ("/fedora/", "fedora")):
                assert client.get(path).text.strip() == body, "\n".join(run.lines)
            assert client.get("/fedora/WEB-INF/web.xml").status_code == 404
            moved = client.get("/oldContextPath/x")
            assert moved.status_code == 302
            assert moved.headers["location"].endswith("/test/dump/newContextPath/x")
    finally:
        assert run.stop() == 0, "\n".join(run.lines)
