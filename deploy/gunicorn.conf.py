"""Gunicorn settings for a CovetPy app: gunicorn manages the processes, each worker
runs the app under uvicorn (``uvicorn_worker.UvicornWorker``, from the
``uvicorn-worker`` package; ``uvicorn.workers`` is deprecated)::

    gunicorn -c deploy/gunicorn.conf.py examples.hello:app

Every value can be set from the environment:

=============================  ==========================  =============================
variable                       default                     meaning
=============================  ==========================  =============================
``GUNICORN_BIND``              ``127.0.0.1:8000``          address(es), comma-separated
``GUNICORN_WORKERS``           CPUs this process may use   worker processes
``GUNICORN_TIMEOUT``           ``60``                      seconds a silent worker lives
``GUNICORN_GRACEFUL_TIMEOUT``  ``30``                      seconds to finish on SIGTERM
``GUNICORN_KEEPALIVE``         ``5``                       idle keep-alive seconds
``GUNICORN_MAX_REQUESTS``      ``0`` (never)               restart a worker after N
``GUNICORN_LOG_LEVEL``         ``info``                    gunicorn and uvicorn logs
``FORWARDED_ALLOW_IPS``        ``127.0.0.1``               proxies trusted for
                                                           X-Forwarded-For/-Proto
``GUNICORN_CONTROL_SOCKET``    unset: no control socket    path for ``gunicornc``
=============================  ==========================  =============================

SIGTERM (what ``docker stop`` and systemd send) stops accepting connections, lets
in-flight requests finish for up to ``GUNICORN_GRACEFUL_TIMEOUT`` seconds and runs
the app's lifespan shutdown in each worker.
"""

from __future__ import annotations

import os


def _int_from_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _usable_cpus() -> int:
    # The CPUs this process may run on (a container's cpuset), not the host's count.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


bind = [
    address.strip()
    for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
    if address.strip()
]
workers = _int_from_env("GUNICORN_WORKERS", _usable_cpus(), 1)
worker_class = "uvicorn_worker.UvicornWorker"
timeout = _int_from_env("GUNICORN_TIMEOUT", 60, 0)
graceful_timeout = _int_from_env("GUNICORN_GRACEFUL_TIMEOUT", 30, 0)
keepalive = _int_from_env("GUNICORN_KEEPALIVE", 5, 0)
max_requests = _int_from_env("GUNICORN_MAX_REQUESTS", 0, 0)
# Spreads the restarts so that the workers do not all recycle at once.
max_requests_jitter = max_requests // 10
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Gunicorn's control socket defaults to one path per user ($HOME/.gunicorn), which
# two servers on one host would fight over: it is opt-in here.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = control_socket == ""
# The app is imported in each worker, after the fork: nothing (an event loop, a
# Redis connection) is shared between processes by accident.
preload_app = False
