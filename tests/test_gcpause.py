"""The collector is held off only while a pause lasts, and left as the caller had it."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from aim_artifacts.gcpause import paused


@pytest.fixture
def collector() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


@pytest.mark.usefixtures("collector")
def test_pauses_nest_and_end_with_the_outermost() -> None:
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with paused():
        pass
    assert not gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_pauses_in_threads_end_together() -> None:
    entered, release = threading.Barrier(2), threading.Event()

    def hold() -> None:
        with paused():
            entered.wait(timeout=10)
            release.wait(timeout=10)

    other = threading.Thread(target=hold)
    other.start()
    with paused():
        entered.wait(timeout=10)
    assert not gc.isenabled()  # the other thread's pause goes on
    release.set()
    other.join(timeout=10)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_a_failure_inside_ends_the_pause() -> None:
    with pytest.raises(KeyError), paused():
        raise KeyError
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_cycles_made_meanwhile_are_collected_later() -> None:
    class Node:
        pass

    with paused():
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        del node
    gc.collect()
    assert alive() is None


@pytest.mark.usefixtures("collector")
def test_objects_the_application_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused():
            pass
        # Still frozen, nothing added (frozen objects that other threads free meanwhile
        # leave the count: it may fall a little, never to the 0 an unfreeze leaves).
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
