"""A signal that arrives while the benchmark waits on its worker processes is raised at the
end of the guarded block, never inside the executor's locks and queues."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from medfuse.evaluate.interrupt import Stop, deferred_stop, signals_stop

main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be set in the main thread")


@pytest.fixture(autouse=True)
def default_handlers():
    """SIGINT and SIGTERM at their defaults, as in a command started from a terminal (a
    test run started in the background by a shell inherits SIGINT ignored, and
    ``signals_stop`` leaves ignored signals alone)."""
    previous = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for number, handler in previous.items():
        signal.signal(number, handler)


@main_thread_only
def test_a_signal_in_a_deferred_block_is_raised_when_the_block_ends():
    reached = []
    with signals_stop(), pytest.raises(Stop) as stopped:
        with deferred_stop():
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append("after the signal")  # not interrupted here
            with deferred_stop():  # nested: still deferred
                reached.append("inner")
            reached.append("outer end")
        reached.append("never")
    assert reached == ["after the signal", "inner", "outer end"]
    assert stopped.value.signal_number == signal.SIGTERM


@main_thread_only
def test_outside_a_deferred_block_the_signal_is_raised_at_once():
    reached = []
    with signals_stop(), pytest.raises(Stop) as stopped:
        os.kill(os.getpid(), signal.SIGINT)
        reached.append("never")
    assert reached == [] and stopped.value.signal_number == signal.SIGINT


@main_thread_only
def test_a_clean_block_raises_nothing_and_leaves_no_signal_behind():
    with signals_stop():
        with deferred_stop():
            pass
    with deferred_stop():  # no handler installed: nothing recorded, nothing raised
        pass
