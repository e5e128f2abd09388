"""Entry point, run by path in the webapp's interpreter: ``<python> .../deployer/worker FD``.

That interpreter may be another virtualenv's, with no deployer installed, or a different one
installed. So the directory of this package is dropped from sys.path (its modules would shadow the
app's) and ``deployer.worker`` is made importable on its own: ``deployer`` here is a package that
holds nothing but this worker package, which is also what the app sees (``deployer.worker.flask``,
``deployer.worker.django``), always the version that matches the front.
"""

import importlib.util
import os
import sys
import types


class _OnlyTheWorker:
    """Refuses the rest of deployer, which an editable install's own finder would still find."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.startswith("deployer.") and not name.startswith(("deployer.worker.",)) \
                and name != "deployer.worker":
            raise ModuleNotFoundError(f"No module named {name!r} (a worker process holds only "
                                      "deployer.worker)", name=name)
        return None


def _install() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    package = types.ModuleType("deployer")
    package.__path__ = []  # nothing of deployer but its worker package
    package.__doc__ = "deployer's worker side (deployer itself runs in another process)"
    sys.modules["deployer"] = package
    sys.meta_path.insert(0, _OnlyTheWorker)
    spec = importlib.util.spec_from_file_location(
        "deployer.worker", os.path.join(here, "__init__.py"), submodule_search_locations=[here])
    module = importlib.util.module_from_spec(spec)
    sys.modules["deployer.worker"] = module
    spec.loader.exec_module(module)
    package.worker = module


if __name__ == "__main__":
    _install()
    from deployer.worker.main import main

    sys.exit(main(sys.argv))
