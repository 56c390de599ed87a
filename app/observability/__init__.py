"""Observability: Prometheus metrics and structured, phone-masked logs.

- `logs`: `configure_logging` (once per process), `bind` (lead / attempt of the current task)
- `metrics`: the metrics and the helpers that observe them
- `http`: the API's request-id middleware and `/metrics` (`install(app)`)
- `worker`: the worker's metrics server
"""
