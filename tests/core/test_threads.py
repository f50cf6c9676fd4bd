"""A temporary torch thread count stays in the thread that asked for it and never outlives its block."""
import threading

import pytest
import torch

from core.threads import PROCESS_THREADS, threads


def test_a_block_runs_with_its_count_and_the_process_count_comes_back():
    seen = {}

    def worker():
        with threads(1):
            seen["inside"] = torch.get_num_threads()
            started.set()
            release.wait(10)
        seen["after"] = torch.get_num_threads()

    started, release = threading.Event(), threading.Event()
    t = threading.Thread(target=worker)
    t.start()
    assert started.wait(10)
    seen["other thread meanwhile"] = torch.get_num_threads()
    release.set()
    t.join(10)
    assert seen == {"inside": 1, "other thread meanwhile": PROCESS_THREADS, "after": PROCESS_THREADS}
    late = []
    t = threading.Thread(target=lambda: late.append(torch.get_num_threads()))
    t.start()
    t.join(10)
    assert late == [PROCESS_THREADS]  # a thread started afterwards does not inherit the temporary count


def test_a_count_below_one_is_refused_by_name():
    with pytest.raises(ValueError, match="n=0"):
        with threads(0):
            pass
