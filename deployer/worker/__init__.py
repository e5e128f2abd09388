"""The child side: what runs inside a webapp's worker process, in the webapp's interpreter.

Standard library only (it runs where deployer is not installed) and Python 3.9 compatible. Apps
may import ``current_session`` from here, and the framework adapters ``deployer.worker.flask``
and ``deployer.worker.django``.
"""

from deployer.worker.session import SessionError, current_session

__all__ = ["SessionError", "current_session"]
