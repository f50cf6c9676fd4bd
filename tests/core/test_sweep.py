"""The sweep executor in this process: results in cell order, progress, per-process cache, how a backend is chosen
and what bad arguments say. (Ray itself: tests/core/test_sweep_ray.py.)"""
import sys

import pytest

from core import sweep
from core.sweep import LOCAL, SERIAL, Executor, iter_results, run, share, worker_cache


def square_plus(shared, cell):
    return cell * cell + shared["offset"]


def test_serial_results_come_in_cell_order_with_progress():
    seen = []
    out = list(iter_results(square_plus, [3, 1, 2], {"offset": 10}, SERIAL, lambda d, n: seen.append((d, n))))
    assert out == [(0, 19), (1, 11), (2, 14)]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert run(square_plus, [], {"offset": 0}) == []


def test_a_failing_cell_raises_its_own_error():
    with pytest.raises(ZeroDivisionError):
        run(lambda_free_divide, [1, 0], {"offset": 0})


def lambda_free_divide(shared, cell):
    return 1 / cell


def test_cells_must_be_module_level_functions():
    with pytest.raises(ValueError, match="module-level function"):
        run(lambda shared, cell: cell, [1])


def test_worker_cache_makes_once_and_forgets_the_least_recently_used(monkeypatch):
    sweep.clear_cache()
    monkeypatch.setattr(sweep, "CACHE_ENTRIES", 2)
    made = []

    def make(key):
        made.append(key)
        return key.upper()

    assert worker_cache("a", lambda: make("a")) == "A"
    assert worker_cache("a", lambda: make("a")) == "A"
    worker_cache("b", lambda: make("b"))
    worker_cache("a", lambda: make("a"))       # a is now the most recent
    worker_cache("c", lambda: make("c"))       # b goes
    worker_cache("b", lambda: make("b"))
    assert made == ["a", "b", "c", "b"]
    sweep.clear_cache()


def test_executor_from_environment_and_flags():
    assert Executor.from_env({}) == SERIAL
    assert Executor.from_env({"INSITU_RAY_ADDRESS": "10.0.0.5:6379"}).ray == "10.0.0.5:6379"
    assert Executor.from_env({"INSITU_RAY_ADDRESS": "local"}).ray == LOCAL
    assert Executor.from_flag(None) == SERIAL
    assert Executor.from_flag("").ray == LOCAL            # bare --ray
    assert Executor.from_flag("auto").ray == "auto"
    assert "this process" in SERIAL.describe()
    assert "10.0.0.5:6379" in Executor("10.0.0.5:6379").describe()


@pytest.mark.parametrize("kwargs, name", [({"ray": ""}, "ray"), ({"ray": 5}, "ray"),
                                          ({"num_cpus": 2}, "num_cpus"), ({"ray": LOCAL, "num_cpus": 0}, "num_cpus"),
                                          ({"gpus_per_task": 0}, "gpus_per_task"),
                                          ({"max_retries": -1}, "max_retries")])
def test_bad_executor_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Executor(**kwargs)


def test_shared_objects_from_another_executor_are_refused():
    with pytest.raises(ValueError, match="executor"):
        run(square_plus, [1], "not shared")


def test_without_ray_installed_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(ValueError, match="requirements-ray.txt"):
        share(Executor(LOCAL, num_cpus=1), x=1)
