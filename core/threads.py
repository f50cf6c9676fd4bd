"""torch's CPU thread count for one Python thread at a time.

``torch.set_num_threads`` changes the OpenMP thread count of the calling Python thread (other running threads keep
theirs) and the count that threads started afterwards begin with. ``PROCESS_THREADS`` is the count this process
started with; ``threads(n)`` runs a block of the calling thread with n and then puts back PROCESS_THREADS (never
"the previous value", which may itself be a temporary one another thread passed on), so no temporary count
leaks. Work whose result depends on the count (re-training: floating-point sums in another order) pins
PROCESS_THREADS for itself with ``threads(PROCESS_THREADS)``.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from core.validation import check_int

PROCESS_THREADS = torch.get_num_threads()


@contextmanager
def threads(n: int):
    """Run the block in the calling thread with ``n`` torch threads; PROCESS_THREADS afterwards."""
    n = check_int("n", n, 1)
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(PROCESS_THREADS)


__all__ = ["PROCESS_THREADS", "threads"]
