"""The suite-wide leaked-thread check in conftest.py really fails a test that leaks one."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]


def test_a_leaked_thread_fails_the_test(pytester) -> None:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(
        """
        import threading

        stop = threading.Event()

        def test_leaks():
            threading.Thread(target=stop.wait, name="leaky-one", daemon=True).start()

        def test_cleans_up():
            stop.set()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*threads left running:*leaky-one*"])
