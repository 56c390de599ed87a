"""openapi.yaml is generated from the app; this fails when the two drift apart."""

from pathlib import Path

from app.openapi import render_openapi

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "openapi.yaml"


def test_openapi_yaml_matches_the_app() -> None:
    assert OPENAPI_FILE.read_text() == render_openapi(), "openapi.yaml is stale: run `make openapi`"
