"""A Ray cluster address: a malformed one is refused by name, and one where no Ray answers fails within seconds
with how to start Ray, from the command line and the engine alike (ray.init alone retries for many minutes).
No Ray is started here; a running cluster is connected to in tests/core/test_sweep_ray.py's module."""
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.sweep import LOCAL, Executor, RayUnreachable, check_address, check_reachable

PROJECT = Path(__file__).resolve().parents[2]
NOBODY = "127.0.0.1:1"   # port 1 of this machine: nothing listens there


@pytest.mark.parametrize("address, why", [("10.0.0.5", "a host and a port"), (":6379", "a host and a port"),
                                          ("ray://10.0.0.5", "a host and a port"),
                                          ("10.0.0.5:0", "not a number in [1, 65535]"),
                                          ("10.0.0.5:70000", "not a number in [1, 65535]"),
                                          ("10.0.0.5:port", "not a number in [1, 65535]")])
def test_a_malformed_address_is_refused_by_the_name_it_came_with(address, why):
    for make, name in ((lambda a: Executor(ray=a), "ray"), (Executor.from_flag, "--ray"),
                       (lambda a: Executor.from_env({"INSITU_RAY_ADDRESS": a}), "INSITU_RAY_ADDRESS")):
        with pytest.raises(ValueError) as err:
            make(address)
        assert f"{name}='{address}'" in str(err.value) and why in str(err.value) and "HOST:PORT" in str(err.value)


@pytest.mark.parametrize("address", ["local", "auto", "10.0.0.5:6379", "head.cluster:6379", "ray://10.0.0.5:10001",
                                     "[::1]:6379"])
def test_well_formed_addresses_are_kept(address):
    assert check_address("ray", address) == address
    assert Executor.from_flag(address).ray == address


def test_an_address_where_nothing_listens_fails_in_seconds_with_how_to_start_ray():
    started = time.monotonic()
    with pytest.raises(RayUnreachable, match=r"INSITU_RAY_ADDRESS='127.0.0.1:1'.*connection refused") as err:
        check_reachable(Executor(NOBODY), "INSITU_RAY_ADDRESS")
    assert time.monotonic() - started < 10
    assert "ray start --head --port=6379" in str(err.value) and "INSITU_RAY_ADDRESS=local" in str(err.value)
    assert isinstance(err.value, ValueError)     # pages and command lines report it like any bad input


def test_nothing_to_try_for_this_process_or_a_local_ray():
    check_reachable(Executor())
    check_reachable(Executor(LOCAL))


def _engine_run(address: str, probe_s: float, limit_s: float) -> tuple[subprocess.CompletedProcess, float]:
    """A sweep on ``address`` in a child process (a hang there cannot stall the test run)."""
    code = ("import sys, core.sweep as s\n"
            f"s.PROBE_TIMEOUT_S = {probe_s}\n"
            "try:\n"
            "    s.run(s.clear_cache, [1], executor=s.Executor(sys.argv[1]))\n"
            "except ValueError as err:\n"
            "    sys.exit(f'error: {err}')\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code, address], cwd=PROJECT, capture_output=True, text=True,
                          timeout=limit_s)
    return done, time.monotonic() - started


def test_a_sweep_on_a_port_that_is_not_ray_stops_after_the_probe_time():
    """Something listens but never speaks Ray (the TCP check passes): ray.init itself is bounded."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        done, seconds = _engine_run(address, probe_s=5.0, limit_s=60)
    assert done.returncode != 0 and seconds < 30, (done.returncode, seconds)
    assert f"ray='{address}'" in done.stderr and "did not answer as a Ray cluster within 5 s" in done.stderr
    assert "ray start --head --port=6379" in done.stderr


def test_the_library_command_line_fails_within_30_s_where_no_ray_answers(tmp_path):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "core.network.library", "build", "--out", str(tmp_path / "lib"),
                           "--ray", NOBODY], cwd=PROJECT, capture_output=True, text=True, timeout=30)
    seconds = time.monotonic() - started
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"--ray='{NOBODY}'" in done.stderr and "ray start --head --port=6379" in done.stderr
    assert "`--ray` alone" in done.stderr                # how to start a local Ray instead
    assert "Failed to connect to GCS" not in done.stderr  # Ray's own retry lines never reach the user
    assert not (tmp_path / "lib").exists()               # nothing was loaded or built first
    print(f"failed after {seconds:.1f} s")


def test_a_malformed_address_on_the_command_line_is_named(tmp_path):
    done = subprocess.run([sys.executable, "-m", "core.network.library", "build", "--out", str(tmp_path / "lib"),
                           "--ray", "127.0.0.1"], cwd=PROJECT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--ray='127.0.0.1' is not a Ray address" in done.stderr
