"""Federated runs of the "Improve together" page: each run is ``python -m core.federated`` in a background process,
in its own folder under the project's cache (cache/runs/<key>/, $INSITU_RUNS elsewhere), keyed by everything the
run depends on, so that any rerun of the page, any session and a restarted server find it instead of starting
another. The page only reads the run's progress file (one JSON line per event) and never waits for the process.

A run folder holds ``spec.json`` (what was asked, written once the process started), ``progress.jsonl`` (the
engine's events), ``log.txt`` (its output), ``pid.json`` (the process and its start time, so that a reused process
number is not taken for the run) and ``exit`` (its exit code, once this server saw it end). Nothing here is
cached in memory but the handles of the processes this server started: the files are the state.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.services.keys import PROJECT
from core.compress.payload import check_bits
from core.validation import check_bool, check_int

RUNS_ENV = "INSITU_RUNS"           # another folder for the run folders (tests, a read-only project)
MAX_RUNS_ENV = "INSITU_MAX_RUNS"   # how many runs may go on at once on this machine (default 1)
MAX_RUNS = 1
KEEP_RUNS = 40                     # finished run folders kept; older ones are removed when a run starts

# What the page may start live; larger runs come from the command, which it shows.
LIVE_DEVICES = (2, 10)
LIVE_ROUNDS = (1, 5)
LIVE_LOCAL_STEPS = (1, 20)
UPDATE_BITS = (2, 3, 4, 5, 6, 7, 8, 16, 32)
EVAL_LIMITS = (200, 500, 1000, 2000)
GENERATED_BITS = 3                 # "3-bit codes": a sub-model the shipped libraries lack, made from the root

SPEC_FILE, PROGRESS_FILE, LOG_FILE, PID_FILE, EXIT_FILE, STOP_FILE = (
    "spec.json", "progress.jsonl", "log.txt", "pid.json", "exit", "stopped")
STATES = ("none", "running", "done", "failed", "stopped")

_CHILDREN: dict[str, subprocess.Popen] = {}   # run key -> process started by this server (polled, so reaped)
_LOCK = threading.RLock()
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RunLimit(RuntimeError):
    """Another run is under way and the machine's cap is reached: the message says which run and what to do."""


def runs_dir() -> Path:
    """Where run folders live: $INSITU_RUNS, else cache/runs in the project (ignored by git, never assets/)."""
    return Path(os.environ[RUNS_ENV]) if os.environ.get(RUNS_ENV) else PROJECT / "cache" / "runs"


def max_runs() -> int:
    raw = os.environ.get(MAX_RUNS_ENV, "").strip()
    if not raw:
        return MAX_RUNS
    try:
        return check_int(MAX_RUNS_ENV, int(raw), 1, 64)
    except ValueError as err:
        raise ValueError(f"{MAX_RUNS_ENV}={raw!r} is not allowed: a whole number of runs from 1 to 64") from err


def live_cpus() -> int:
    """CPUs for a run the page starts: at most 2 (one device per CPU at a time), fewer on a smaller machine."""
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class RunSpec:
    """Everything a run depends on, as plain values: the root's checkpoint file (path, modification time in ns,
    size), which sub-model is improved (a library entry: its key, library folder and the sha256 of its weights; or
    ``bits``: a sub-model generated from the root), the controls, the seed and the CPUs. ``key`` hashes all of it."""

    checkpoint: str
    root_mtime_ns: int
    root_size: int
    entry: str | None = None
    library: str | None = None
    entry_sha256: str = ""
    bits: int | None = None
    devices: int = 4
    rounds: int = 3
    local_steps: int = 4
    update_bits: int = 8
    eval_limit: int = 500
    seed: int = 0
    central: bool = True
    cpus: int = 2

    def __post_init__(self):
        if not isinstance(self.checkpoint, str) or not self.checkpoint:
            raise ValueError(f"checkpoint={self.checkpoint!r} must be the root's checkpoint file")
        if (self.entry is None) == (self.bits is None):
            raise ValueError(f"entry={self.entry!r}, bits={self.bits!r}: give a library entry or a bit width to "
                             "generate, one of the two")
        if self.entry is not None:
            if not isinstance(self.entry, str) or not re.fullmatch(r"[A-Za-z0-9.\-]+", self.entry):
                raise ValueError(f"entry={self.entry!r} must be a library entry key like 'd4-r0.1-b4-s60'")
            if not self.library:
                raise ValueError(f"library={self.library!r}: a library entry needs its library folder")
        else:
            check_bits(self.bits, "bits")
        check_int("devices", self.devices, 1, 10_000)
        check_int("rounds", self.rounds, 1, 10_000)
        check_int("local_steps", self.local_steps, 1, 1_000_000)
        check_bits(self.update_bits, "update_bits")
        check_int("eval_limit", self.eval_limit, 1)
        check_int("seed", self.seed, 0, 2**31 - 1)
        check_bool("central", self.central)
        check_int("cpus", self.cpus, 1, 1024)

    @property
    def key(self) -> str:
        """The run's name: a hash of every field (a changed control, root file, entry or seed is another run)."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def folder(self) -> Path:
        return runs_dir() / self.key

    def arguments(self, root: str | None = None) -> list[str]:
        """The command's arguments after ``python -m core.federated`` (``root``: how to name the root, default its
        checkpoint file)."""
        args = ["--root", root or self.checkpoint]
        if self.entry is not None:
            args += ["--entry", self.entry, "--library", str(self.library)]
        else:
            args += ["--bits", str(self.bits)]
        args += ["--devices", str(self.devices), "--rounds", str(self.rounds), "--local-steps", str(self.local_steps),
                 "--update-bits", str(self.update_bits), "--eval-limit", str(self.eval_limit),
                 "--cpus", str(self.cpus), "--seed", str(self.seed)]
        return args + (["--central"] if self.central else [])

    def command(self, **changes) -> str:
        """The command line a user types for this run (``changes``: other field values, e.g. a larger run), with
        the root by name and the library folder relative to the project where they are the defaults."""
        spec = dataclasses.replace(self, **changes) if changes else self
        args = spec.arguments(root=_root_name(spec.checkpoint))
        if spec.entry is not None and _is_default_library(spec.checkpoint, str(spec.library)):
            at = args.index("--library")
            del args[at:at + 2]
        return "python -m core.federated " + " ".join(shlex.quote(a) for a in args)


def _root_name(checkpoint: str) -> str:
    """The root's name for a command (its file stem) where the command finds it by that name, else its path."""
    from core.model.roots import resolve_checkpoint

    path = Path(checkpoint)
    try:
        if resolve_checkpoint(path.stem).resolve() == path.resolve():
            return path.stem
    except (ValueError, OSError):
        pass
    return _shown_path(path)


def _is_default_library(checkpoint: str, library: str) -> bool:
    return Path(library).resolve() == (PROJECT / "library" / Path(checkpoint).stem).resolve()


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT))
    except ValueError:
        return str(path)


def entry_choices(model: str) -> tuple[dict[str, str], str]:
    """(choices, problem): the compressed entries of the root's AI library (fewer bits or fewer weights than the
    root), key -> the entry in words; empty with the reason when the library cannot be opened."""
    from app import glossary
    from app.services import ai_library

    lib, problem = ai_library.library_or_none(model)
    if lib is None:
        return {}, problem
    entries = lib.entries()
    kept = entries[(entries["bits"] < 32) | (entries["keep_ratio"] < 1.0)]
    return {str(row["key"]): _entry_words(row, glossary.entry_words) for _, row in kept.iterrows()}, ""


def _entry_words(row, words) -> str:
    """A built entry's key in words; an improved version of one (key '<key>-v2') as its entry's words and version."""
    key = str(row["key"])
    try:
        return words(key)
    except ValueError:
        pass
    base, version = row.get("base_key"), row.get("version")
    try:
        return f"{words(str(base))}, improved (version {int(version)})"
    except (ValueError, TypeError):
        return str(row.get("label") or key)


def run_spec(model: str, entry: str | None, devices: int, rounds: int, local_steps: int, update_bits: int,
             eval_limit: int, seed: int, central: bool = True) -> RunSpec:
    """The RunSpec of the page's choices for root ``model`` (``entry``: a key of its library, None: the
    GENERATED_BITS-bit sub-model made from the root), with the files' identities that the run depends on."""
    from app.services import ai_library, keys

    path, mtime_ns, size = keys.root_identity(model)
    library, sha = None, ""
    if entry is not None:
        lib, problem = ai_library.library_or_none(model)
        if lib is None:
            raise ValueError(f"entry={entry!r} needs the root's AI library: {problem}")
        rows = lib.entries()
        row = rows[rows["key"] == entry]
        if row.empty:
            raise ValueError(f"entry={entry!r} is not in the AI library of {model}; allowed: "
                             f"{sorted(entry_choices(model)[0])}")
        library, sha = str(keys.library_path(model)), str(row["file_sha256"].iloc[0] or "")
    return RunSpec(checkpoint=path, root_mtime_ns=mtime_ns, root_size=size, entry=entry, library=library,
                   entry_sha256=sha, bits=None if entry is not None else GENERATED_BITS, devices=devices,
                   rounds=rounds, local_steps=local_steps, update_bits=update_bits, eval_limit=eval_limit, seed=seed,
                   central=central, cpus=live_cpus())


# ---------- the progress file ----------

@dataclass(frozen=True)
class Progress:
    """What a progress file says so far. ``start``: the start event (root, label, root_accuracy, test_images, ...);
    ``rounds``: the round events in order of round (round 0: the entry as downloaded); ``central``: the central
    curve (index 0 as downloaded) or None; ``done`` / ``error``: the final event if any; ``problems``: damaged or
    unreadable lines in words; ``partial``: the last line is still being written (not read yet)."""

    start: dict | None = None
    rounds: tuple[dict, ...] = ()
    central: tuple[float, ...] | None = None
    done: dict | None = None
    error: str | None = None
    problems: tuple[str, ...] = ()
    partial: bool = False

    @property
    def accuracy(self) -> tuple[float, ...]:
        return tuple(r["accuracy"] for r in self.rounds)

    @property
    def finished(self) -> bool:
        return self.done is not None or self.error is not None


def _accuracy(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        0.0 <= value <= 1.0


def _check_event(event: dict) -> str:
    """Why an event cannot be used ("" when it can); unknown keys are allowed (the engine may add fields)."""
    kind = event.get("event")
    if kind == "start":
        if "root_accuracy" in event and not _accuracy(event["root_accuracy"]):
            return f"its root accuracy {event['root_accuracy']!r} is not an accuracy between 0 and 1"
    elif kind == "round":
        r = event.get("round")
        if not isinstance(r, int) or isinstance(r, bool) or r < 0:
            return f"its round {r!r} is not a round number"
        if not _accuracy(event.get("accuracy")):
            return f"its accuracy {event.get('accuracy')!r} is not an accuracy between 0 and 1"
        bits = event.get("uplink_bits", [])
        if not isinstance(bits, list) or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0
                                                 for b in bits):
            return "its uplink bits are not a list of whole numbers"
    elif kind == "central":
        curve = event.get("accuracy")
        if not isinstance(curve, list) or not curve or not all(_accuracy(a) for a in curve):
            return "its central curve is not a list of accuracies between 0 and 1"
    elif kind == "error":
        if not isinstance(event.get("message", ""), str):
            return "its message is not text"
    return ""


def read_progress(path: str | os.PathLike) -> Progress:
    """Parse a progress file (a missing one is an empty Progress). Lines that are not a JSON object, or whose
    fields are not what they should be, are named in ``problems`` and skipped; the last line without its newline
    is being written and is left for the next read; unknown events and keys are ignored."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Progress()
    except OSError as err:
        return Progress(problems=(f"the progress file could not be read: {err.strerror or err}",))
    lines = raw.split(b"\n")
    partial = bool(lines[-1].strip())          # written without its newline yet
    lines = lines[:-1]
    start, rounds, central, done, error, problems = None, {}, None, None, None, []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            problems.append(f"line {number} of the progress file is damaged (not a complete record): "
                            f"{line[:60].decode('utf-8', 'replace')!r}")
            continue
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            problems.append(f"line {number} of the progress file is not an event record")
            continue
        why = _check_event(event)
        if why:
            problems.append(f"line {number} of the progress file is damaged: {why}")
            continue
        kind = event["event"]
        if kind == "start":
            start = event
        elif kind == "round":
            rounds[event["round"]] = event
        elif kind == "central":
            central = tuple(float(a) for a in event["accuracy"])
        elif kind == "done":
            done = event
        elif kind == "error":
            error = str(event.get("message") or "no message")
    return Progress(start=start, rounds=tuple(rounds[r] for r in sorted(rounds)), central=central, done=done,
                    error=error, problems=tuple(problems), partial=partial)


# ---------- the run's process ----------

def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where /proc has no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _proc_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[:1] == ["Z"]


def _alive(key: str, folder: Path) -> tuple[bool, int | None]:
    """(alive, exit code if known): the run's process, by this server's handle or by its pid file."""
    with _LOCK:
        child = _CHILDREN.get(key)
    if child is not None:
        code = child.poll()
        if code is None:
            return True, None
        try:
            _write(folder / EXIT_FILE, str(code))
        except OSError:   # its folder was removed meanwhile
            pass
        with _LOCK:
            _CHILDREN.pop(key, None)
        return False, code
    exit_file = folder / EXIT_FILE
    if exit_file.is_file():
        try:
            return False, int(exit_file.read_text().strip())
        except ValueError:
            return False, None
    try:
        info = json.loads((folder / PID_FILE).read_text())
        pid, started = int(info["pid"]), info.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return False, None
    if Path("/proc").is_dir():
        now = _proc_start(pid)
        return (now is not None and (started is None or now == started) and not _proc_zombie(pid)), None
    try:
        os.kill(pid, 0)
    except OSError:
        return False, None
    return True, None


def _write(path: Path, text: str) -> None:
    """Write a small file whole (core.network.library.weights.write_atomic), so that no reader sees half of it."""
    from core.network.library.weights import write_atomic

    write_atomic(text.encode(), path)


def log_tail(folder: Path, lines: int = 15, chars: int = 2500) -> str:
    """The last lines of a run's log, colour codes removed (for a report of what went wrong)."""
    try:
        with open(folder / LOG_FILE, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64_000))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    text = _ANSI.sub("", text).rstrip()
    return "\n".join(text.splitlines()[-lines:])[-chars:]


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands: ``state`` one of none (never started), running, done, failed, stopped; its progress so
    far; ``message``: what went wrong in plain words (failed or stopped) and ``log``: the last lines of its log."""

    key: str
    state: str
    progress: Progress
    message: str = ""
    log: str = ""
    started: float | None = None     # when it was started (seconds since the epoch), if known

    @property
    def running(self) -> bool:
        return self.state == "running"


def status(spec: RunSpec) -> RunStatus:
    """The run's status from its folder: reads two small files and asks the system about one process; never waits."""
    folder = spec.folder
    if not (folder / SPEC_FILE).is_file():
        return RunStatus(spec.key, "none", Progress())
    progress = read_progress(folder / PROGRESS_FILE)
    alive, code = _alive(spec.key, folder)
    started = _started(folder)
    if progress.done is not None:
        return RunStatus(spec.key, "done", progress, started=started)
    if (folder / STOP_FILE).is_file() and not alive:   # stopped on request (its last words are not an error)
        return RunStatus(spec.key, "stopped", progress, "The run was stopped before it finished.", log_tail(folder),
                         started)
    if progress.error is not None:
        return RunStatus(spec.key, "failed", progress, f"The run reported an error: {progress.error}",
                         log_tail(folder), started)
    if alive:
        return RunStatus(spec.key, "running", progress, started=started)
    if code is not None:
        why = f"The run's process ended with exit code {code} before it finished"
    else:
        why = ("The run's process is gone before it finished (the server that started it may have stopped, or the "
               "machine ran out of memory)")
    return RunStatus(spec.key, "failed", progress, why + ".", log_tail(folder), started)


def run_seconds(spec: RunSpec) -> float | None:
    """Seconds from the run's start to its last progress line (for a finished run: the whole run), or None."""
    started = _started(spec.folder)
    try:
        last = (spec.folder / PROGRESS_FILE).stat().st_mtime
    except OSError:
        return None
    return max(0.0, last - started) if started else None


def _started(folder: Path) -> float | None:
    try:
        return float(json.loads((folder / PID_FILE).read_text())["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_runs() -> list[str]:
    """Keys of the runs under way now: process alive, last line not written (this server's and others' that share
    the runs folder)."""
    base = runs_dir()
    if not base.is_dir():
        return []
    # A run that wrote its last line counts as finished even while its process shuts Ray down.
    return [p.name for p in sorted(base.iterdir()) if p.is_dir() and (p / SPEC_FILE).is_file()
            and not (p / EXIT_FILE).is_file() and _alive(p.name, p)[0]
            and not read_progress(p / PROGRESS_FILE).finished]


def start(spec: RunSpec, *, live_limits: bool = True) -> RunStatus:
    """Start the run in the background unless it is running or done already (then its status is returned as it
    is); a failed or stopped run is started afresh. Raises RunLimit when the machine's cap of runs at once is
    reached, ValueError for a run larger than the page may start (``live_limits``), RuntimeError when the process
    cannot be started. Returns at once: the process runs on, writing its progress file."""
    if live_limits:
        for name, value, (lo, hi) in (("devices", spec.devices, LIVE_DEVICES), ("rounds", spec.rounds, LIVE_ROUNDS),
                                      ("local_steps", spec.local_steps, LIVE_LOCAL_STEPS)):
            if not lo <= value <= hi:
                raise ValueError(f"{name}={value!r} is more than the page runs live: {lo} to {hi}; larger runs come "
                                 "from the command")
    base = runs_dir()
    base.mkdir(parents=True, exist_ok=True)
    with _LOCK, _file_lock(base / ".lock"):
        now = status(spec)
        if now.state in ("running", "done"):
            return now
        others = [k for k in running_runs() if k != spec.key]
        if len(others) >= max_runs():
            raise RunLimit(_limit_words(others))
        folder = spec.folder
        if folder.exists():
            shutil.rmtree(folder)
        _prune(base)
        folder.mkdir(parents=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT), env.get("PYTHONPATH", "")) if p)
        env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, "-m", "core.federated", *spec.arguments(), "--progress", str(folder / PROGRESS_FILE)]
        try:
            with open(folder / LOG_FILE, "wb") as log:
                child = subprocess.Popen(argv, cwd=str(PROJECT), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as err:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"the run could not be started: {err.strerror or err}") from err
        _CHILDREN[spec.key] = child
        _write(folder / PID_FILE, json.dumps({"pid": child.pid, "start": _proc_start(child.pid), "time": time.time()}))
        _write(folder / SPEC_FILE, json.dumps({**dataclasses.asdict(spec), "argv": argv}, indent=1))
    return status(spec)


def stop(spec: RunSpec) -> bool:
    """Stop a running run (its process group: the command and the Ray it started). True if one was stopped."""
    folder = spec.folder
    alive, _ = _alive(spec.key, folder)
    if not alive:
        return False
    try:
        pid = int(json.loads((folder / PID_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    _write(folder / STOP_FILE, str(time.time()))
    try:
        os.killpg(pid, signal.SIGTERM)   # started with its own session: its group is its own pid
    except (ProcessLookupError, PermissionError, AttributeError):
        return False
    return True


def _limit_words(others: list[str]) -> str:
    from app.glossary import count_words

    what = []
    for key in others:
        try:
            info = json.loads((runs_dir() / key / SPEC_FILE).read_text())
            what.append(f"{count_words(info['devices'], 'device')}, {count_words(info['rounds'], 'round')}, "
                        f"seed {info['seed']}")
        except (OSError, ValueError, KeyError, TypeError):
            what.append("another run")
    n = max_runs()
    return (f"Another run is under way ({'; '.join(what)}): this machine runs {n} at a time. Wait until it has "
            f"finished (its page shows it), or run larger ones from the command.")


def _prune(base: Path) -> None:
    """Keep the newest KEEP_RUNS finished run folders; older finished ones go (a running one never does)."""
    folders = [p for p in base.iterdir() if p.is_dir() and (p / SPEC_FILE).is_file()]
    if len(folders) < KEEP_RUNS:
        return
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[KEEP_RUNS - 1:]:
        if not _alive(old.name, old)[0]:
            shutil.rmtree(old, ignore_errors=True)


def _file_lock(path: Path):
    """An exclusive lock on a file (the project's filelock, as the AI library's catalog uses), so that two servers
    sharing the runs folder never start the same run twice or more runs than the cap."""
    from filelock import FileLock

    return FileLock(str(path))


# ---------- what the page draws ----------

def rounds_frame(progress: Progress):
    """Accuracy and uplink per round as a table: round, accuracy, uplink bits of all devices, the largest update
    (bits) and seconds since the run's start."""
    import pandas as pd

    rows = [{"round": r["round"], "accuracy": float(r["accuracy"]),
             "uplink_bits": int(sum(r.get("uplink_bits") or [])),
             "largest_update_bits": int(max(r.get("uplink_bits") or [0])),
             "seconds": float(r["seconds"]) if isinstance(r.get("seconds"), (int, float)) else float("nan")}
            for r in progress.rounds]
    return pd.DataFrame(rows, columns=["round", "accuracy", "uplink_bits", "largest_update_bits", "seconds"])


def device_frame(progress: Progress, uplink_bps: float):
    """Uplink bits per device and round, with the seconds each update takes at ``uplink_bps`` (bit/s)."""
    import pandas as pd

    if not (isinstance(uplink_bps, (int, float)) and uplink_bps > 0 and math.isfinite(uplink_bps)):
        raise ValueError(f"uplink_bps={uplink_bps!r} must be a positive rate in bit/s")
    photos = (progress.start or {}).get("photos") or []
    rows = [{"round": r["round"], "device": d + 1, "photos": photos[d] if d < len(photos) else None,
             "uplink_bits": int(b), "uplink_seconds": int(b) / float(uplink_bps)}
            for r in progress.rounds for d, b in enumerate(r.get("uplink_bits") or [])]
    return pd.DataFrame(rows, columns=["round", "device", "photos", "uplink_bits", "uplink_seconds"])


def target_rounds(curve, target: float) -> int | None:
    """The first round whose accuracy reaches ``target`` (the engine's rule), or None."""
    from core.federated.local import rounds_to_target

    return rounds_to_target(curve, target)


def default_target(progress: Progress) -> float | None:
    """The run's target: the engine's (its done event), else halfway from the entry as downloaded to the root."""
    if progress.done is not None and _accuracy(progress.done.get("target")):
        return float(progress.done["target"])
    if progress.start is None or not progress.rounds or progress.rounds[0]["round"] != 0 or \
            not _accuracy(progress.start.get("root_accuracy")):
        return None
    from core.federated.local import halfway_target

    return halfway_target(progress.rounds[0]["accuracy"], progress.start["root_accuracy"])


def flower_missing() -> str | None:
    """Why Flower's simulation cannot run here (None when it can), with the install line."""
    from core.federated.flower import flower_missing as missing

    return missing()
