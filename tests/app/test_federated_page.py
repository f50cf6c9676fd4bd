"""AppTest of the Improve together page (issue 23): controls and explanation without starting anything, a small live
run on the digits root that writes its progress and whose charts the page then shows, damaged or failed runs reported
in words, and a run key that changes with everything the run depends on. The live run skips without Flower."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.services import federated as fed
from core.federated.flower import flower_missing

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
ENTRY = "d1-r1-b4-s0"
RUN_TIMEOUT_S = 420   # a 2-device, 1-round run on the digits root takes about a minute on 2 busy cores


@pytest.fixture
def runs(monkeypatch, tmp_path):
    """Run folders in a temporary place (never the project's cache), the library copied fresh."""
    monkeypatch.setenv(fed.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv("INSITU_LIBRARY", str(tmp_path / "library"))
    return tmp_path / "runs"


def open_page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.switch_page("views/federated.py").run()
    assert not at.exception, at.exception
    return at


def page_spec(**controls) -> fed.RunSpec:
    """The spec the page makes at its default controls (the suite's default root: digits), with ``controls``."""
    from core.model.models import DEFAULT_MODEL_NAME

    chosen = dict(entry=None, devices=4, rounds=3, local_steps=4, update_bits=8, eval_limit=500, seed=0, central=True)
    chosen.update(controls)
    return fed.run_spec(DEFAULT_MODEL_NAME, **chosen)


def fake_run(spec: fed.RunSpec, lines: list[str], exit_code: int | None = 0) -> Path:
    """A run folder as the command leaves it (spec, progress lines, log, exit code), without running anything."""
    folder = spec.folder
    folder.mkdir(parents=True)
    (folder / fed.SPEC_FILE).write_text(json.dumps(dataclasses.asdict(spec)))
    (folder / fed.PROGRESS_FILE).write_text("".join(lines))
    (folder / fed.LOG_FILE).write_text("loading the root\nTraceback: something broke\n")
    (folder / fed.PID_FILE).write_text(json.dumps({"pid": 2**22 + 12345, "start": "0", "time": time.time()}))
    if exit_code is not None:
        (folder / fed.EXIT_FILE).write_text(str(exit_code))
    return folder


def line(**event) -> str:
    return json.dumps(event) + "\n"


START = line(event="start", root="resnet18_digits", label="exit 4, 3-bit (generated, seed 0)", root_accuracy=0.995,
             test_images=359, devices=4, rounds=3, local_steps=4, update_bits=8, seed=0, future_field="ignored")
ROUND0 = line(event="round", round=0, accuracy=0.97, uplink_bits=[], seconds=10.0)
ROUND1 = line(event="round", round=1, accuracy=0.98, uplink_bits=[1000, 1000, 1000, 1000], seconds=30.0)


def texts(at, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def test_the_page_explains_and_offers_controls_without_starting_anything(runs):
    at = open_page()
    assert at.title[0].value == "Improve together"
    assert "own photos" in texts(at, "markdown") and "FedAvg" in texts(at, "markdown")
    assert {s.label for s in at.slider} >= {"Devices", "Rounds", "Local steps per round"}
    assert at.slider(key="fed_devices").min == 2 and at.slider(key="fed_devices").max == 10
    assert at.slider(key="fed_rounds").max == 5
    assert list(at.select_slider(key="fed_update_bits").options)[:1] == ["2"]
    entries = at.selectbox(key="fed_entry").options
    assert entries[0] == "3-bit codes, made from the root" and len(entries) > 1  # and the library's compressed ones
    assert [b.label for b in at.button if b.key == "fed_start"] == ["Start"]
    assert "No run with these settings yet" in texts(at, "info")
    assert any("python -m core.federated" in c.value for c in at.code)  # larger runs: the command
    assert not runs.exists() or not any(runs.iterdir())                   # nothing was started
    assert not at.get("plotly_chart")


def test_the_run_key_changes_with_every_control_and_the_root():
    base = page_spec()
    assert page_spec().key == base.key                      # the same choices find the same run
    changes = dict(entry="d4-r0.5-b4-s60", library="/lib", entry_sha256="ab", bits=None)
    variants = [dataclasses.replace(base, **changes)]
    for name, value in (("devices", 5), ("rounds", 4), ("local_steps", 5), ("update_bits", 4), ("eval_limit", 200),
                        ("seed", 1), ("central", False), ("cpus", 1), ("root_mtime_ns", base.root_mtime_ns + 1),
                        ("root_size", base.root_size + 1), ("checkpoint", base.checkpoint + "x"), ("bits", 4)):
        variants.append(dataclasses.replace(base, **{name: value}))
    keys = {base.key} | {v.key for v in variants}
    assert len(keys) == len(variants) + 1
    entry = variants[0]
    assert dataclasses.replace(entry, entry_sha256="cd").key != entry.key   # the entry's weights changed


def test_bad_settings_name_the_argument_and_what_is_allowed(runs):
    with pytest.raises(ValueError, match=r"update_bits=9 is not allowed.*2\.\.8"):
        page_spec(update_bits=9)
    with pytest.raises(ValueError, match=r"devices=0"):
        page_spec(devices=0)
    with pytest.raises(ValueError, match=r"entry='nope' is not in the AI library"):
        page_spec(entry="nope")
    with pytest.raises(ValueError, match=r"devices=11 is more than the page runs live: 2 to 10"):
        fed.start(page_spec(devices=11))
    assert not runs.exists() or not any(runs.iterdir())


def test_the_progress_reader_skips_a_half_written_last_line_and_names_a_damaged_one(tmp_path):
    path = tmp_path / "progress.jsonl"
    path.write_text(START + ROUND0 + '{"event": "round", "round": 1, "accur\n' + ROUND1 + '{"event": "round", "ro')
    progress = fed.read_progress(path)
    assert progress.partial and [r["round"] for r in progress.rounds] == [0, 1]
    assert progress.start["root_accuracy"] == 0.995 and not progress.finished
    assert len(progress.problems) == 1 and progress.problems[0].startswith("line 3 of the progress file is damaged")
    path.write_text(START + line(event="round", round=2, accuracy=1.7, uplink_bits=[1]) + line(event="later"))
    progress = fed.read_progress(path)
    assert progress.rounds == () and "accuracy 1.7 is not an accuracy" in progress.problems[0]
    assert fed.read_progress(tmp_path / "missing.jsonl") == fed.Progress()


def test_a_damaged_progress_file_is_reported_and_what_can_be_read_is_drawn(runs):
    fake_run(page_spec(), [START, ROUND0, "{not json\n", ROUND1,
                           line(event="done", seconds=40.0, target=0.9825, rounds_to_target=None)])
    at = open_page()
    warning = texts(at, "warning")
    assert "line 3 of the progress file is damaged" in warning and "The charts show what could be read" in warning
    assert len(at.get("plotly_chart")) == 2                      # accuracy and uplink, from rounds 0 and 1
    assert "Accuracy after round 1" in [m.label for m in at.metric]
    assert not [b for b in at.button if b.key == "fed_start"]     # a finished run is not started again


def test_an_error_line_and_a_vanished_process_are_said_in_words_with_the_log(runs):
    fake_run(page_spec(), [START, line(event="error", message="ValueError: entry='x' is not in library")])
    at = open_page()
    assert "The run reported an error: ValueError: entry='x' is not in library" in texts(at, "error")
    assert any("something broke" in c.value for c in at.code)    # the log's last lines
    assert [b.label for b in at.button if b.key == "fed_start"] == ["Start again"]
    fake_run(page_spec(seed=1), [START, ROUND0], exit_code=None)  # no exit code seen, no such process
    status = fed.status(page_spec(seed=1))
    assert status.state == "failed" and "process is gone before it finished" in status.message
    fake_run(page_spec(seed=2), [START, ROUND0], exit_code=1)
    assert "exit code 1" in fed.status(page_spec(seed=2)).message


def test_a_second_run_waits_for_the_first_with_a_clear_message(runs):
    busy = page_spec(seed=5)
    folder = fake_run(busy, [START], exit_code=None)
    pid = os.getpid()  # this process stands in for a run under way: alive, with its real start time
    (folder / fed.PID_FILE).write_text(json.dumps({"pid": pid, "start": fed._proc_start(pid), "time": time.time()}))
    assert fed.status(busy).running and fed.running_runs() == [busy.key]
    with pytest.raises(fed.RunLimit, match=r"Another run is under way \(4 devices, 3 rounds, seed 5\).*1 at a time"):
        fed.start(page_spec(seed=6))
    assert not page_spec(seed=6).folder.exists()


@pytest.mark.skipif(flower_missing() is not None, reason=str(flower_missing()))
def test_a_small_live_run_writes_progress_and_the_page_draws_its_rounds(runs):
    """The smallest entry of the digits library (exit 1, 4-bit: its weights are made from the root on first use),
    2 devices, 1 round of 1 local step: about a minute, most of it starting Ray and Flower."""
    at = open_page()
    at.selectbox(key="fed_entry").set_value(ENTRY)
    at.slider(key="fed_devices").set_value(2)
    at.slider(key="fed_rounds").set_value(1)
    at.slider(key="fed_steps").set_value(1)
    at.selectbox(key="fed_eval").select(200)
    at.run()
    at.button(key="fed_start").click().run()
    assert not at.exception, at.exception
    spec = page_spec(entry=ENTRY, devices=2, rounds=1, local_steps=1, eval_limit=200)
    assert fed.status(spec).state in ("running", "done")
    assert [b.key for b in at.button if b.key in ("fed_stop", "fed_start")] in (["fed_stop"], [])
    assert at.get("progress") or at.get("plotly_chart")            # the run is shown while it goes on
    again = fed.start(spec)                                          # the same settings find the same run
    assert again.key == spec.key and [p.name for p in runs.iterdir() if p.is_dir()] == [spec.key]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while fed.status(spec).running and time.monotonic() < deadline:
        time.sleep(2)
    status = fed.status(spec)
    assert status.state == "done", f"{status.message}\n{status.log}"
    lines = (spec.folder / fed.PROGRESS_FILE).read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["start", "round", "round", "central", "done"]
    assert ENTRY in json.loads(lines[0])["label"]
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2
    labels = [m.label for m in at.metric]
    assert "Accuracy after round 1" in labels and any(lab.startswith("Rounds to reach") for lab in labels)
    assert "on 200 test photos (a fixed draw, each class in its share)" in texts(at, "caption")
    seconds = next(m.value for m in at.metric if m.label == "One update over your uplink")
    assert seconds.endswith("s")


def test_a_finished_run_reads_in_plain_words_and_its_report_holds_both_charts(runs):
    from app import present
    from tests.app.test_plain_language import _problems

    fake_run(page_spec(), [START, ROUND0, ROUND1, line(event="round", round=2, accuracy=0.99, uplink_bits=[9] * 4),
                           line(event="central", accuracy=[0.97, 0.985, 0.99]),
                           line(event="done", seconds=40.0, target=0.9825, rounds_to_target=2)])
    at = open_page()
    assert not _problems(at), _problems(at)
    assert {m.label: m.value for m in at.metric}["Rounds to reach 98.2 %"] == "2 rounds"
    html = present.page_report("Improve together", at.session_state["settings"], at.session_state[present.REPORT])
    assert html.count('class="plotly-graph-div"') == 2 and "Accuracy after each round, on 359 test photos" in html


def test_without_flower_the_page_says_so_with_the_install_line_and_starts_nothing(runs, monkeypatch):
    monkeypatch.setattr(fed, "flower_missing", lambda: "Flower's simulation is not installed (No module named 'flwr')")
    at = open_page()
    assert "pip install -r requirements-ray.txt" in texts(at, "warning")
    assert at.button(key="fed_start").disabled


def test_an_improved_version_of_an_entry_is_offered_in_words():
    import pandas as pd

    from app import glossary

    row = pd.Series({"key": "d4-r0.5-b4-s60-v2", "base_key": "d4-r0.5-b4-s60", "version": 2, "label": "x"})
    assert fed._entry_words(row, glossary.entry_words) == \
        "whole backbone, keep 50 %, 4-bit, re-trained 60 steps, improved (version 2)"
    assert fed._entry_words(pd.Series({"key": "odd", "label": "my entry"}), glossary.entry_words) == "my entry"
