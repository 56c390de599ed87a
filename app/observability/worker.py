"""The worker's side: its metrics on their own port (arq has no HTTP server)."""

import logging

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def start_metrics_server(port: int) -> None:
    """Serve /metrics on `port` (0: not at all). Each worker process on a host needs its own."""
    if port:
        start_http_server(port)
        log.info("worker metrics on port %s", port)
