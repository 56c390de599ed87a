"""The sandbox keeps full collections for when no call is live."""

import gc
import weakref
from collections.abc import Iterator

import pytest

from sandbox.heap import HeapKeeper


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only a full collection frees it


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def cycle_left_while(keeper: HeapKeeper) -> weakref.ref[Node]:
    node = Node()
    keeper.tick()
    return weakref.ref(node)


def test_garbage_left_by_live_calls_waits_for_the_sandbox_to_fall_idle() -> None:
    live = [True]
    keeper = HeapKeeper(lambda: live[0])
    gone = cycle_left_while(keeper)
    gc.collect()
    assert gone() is not None, "a full pass walked the frozen heap while calls were live"
    assert keeper.owes_full_pass

    live[0] = False
    keeper.tick()
    assert gone() is None
    assert not keeper.owes_full_pass and keeper.full_passes == 1


def test_an_idle_sandbox_with_nothing_frozen_since_skips_the_full_pass() -> None:
    keeper = HeapKeeper(lambda: False)
    keeper.tick()
    assert keeper.full_passes == 0


def test_a_sandbox_that_never_falls_idle_still_gets_a_full_pass_after_a_while() -> None:
    keeper = HeapKeeper(lambda: True, max_busy_s=60)
    gone = cycle_left_while(keeper)
    keeper.frozen_since -= 61
    keeper.tick()
    assert gone() is None
    assert keeper.full_passes == 1
    keeper.tick()  # and goes on freezing after it
    assert keeper.owes_full_pass
