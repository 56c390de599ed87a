"""The API's and the worker's collector settings, applied once start-up is done."""

import gc
from collections.abc import Iterator

import pytest

from app.heap import YOUNG_GENERATION_THRESHOLD, settle_after_startup
from app.main import create_app


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settling_freezes_what_start_up_built_and_widens_the_young_generation() -> None:
    built = [object() for _ in range(10)]
    before = gc.get_freeze_count()
    settle_after_startup()
    assert gc.get_freeze_count() >= before + len(built)
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD


async def test_the_api_settles_when_it_starts(database_url: str) -> None:
    app = create_app()
    async with app.router.lifespan_context(app):
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
        assert gc.get_freeze_count() > 0
