"""Writes openapi.yaml from the app (`python -m app.openapi`), so the file never drifts."""

from pathlib import Path

import yaml


def render_openapi() -> str:
    from app.main import create_app

    return yaml.safe_dump(create_app().openapi(), sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    Path("openapi.yaml").write_text(render_openapi())
