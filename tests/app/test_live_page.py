"""AppTest of the Live accuracy page: the paired estimate shows with its interval and what it rests on, for the
root model picked (never another root's cached numbers), can be stopped and continued, and BER, protection and
the packet view change the picture."""
import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
ESTIMATE = "Accuracy under this link"
CLEAN = "Clean accuracy (BER 0, whole split)"


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


def _percent(at, label) -> float:
    return float(_metric(at, label).value.rstrip("%"))


@pytest.fixture(scope="module")
def live():
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_estimate_of_4_bit_codes_shows_its_interval_trials_and_images(live):
    estimate = _metric(live, ESTIMATE)
    assert "95 % interval" in estimate.delta
    assert "trial(s) of 128 images" in estimate.delta
    assert float(estimate.value.rstrip("%")) > 90  # 4-bit codes survive BER 1e-4
    assert _metric(live, "BER / protection").value == "10⁻⁴"
    rests = [c.value for c in live.caption if c.value.startswith("Rests on")]
    assert len(rests) == 1 and "evaluated test images (seed 0; the split has 359" in rests[0]


def test_clean_accuracy_shown_is_the_default_roots_4_bit_sub_model_in_the_chosen_arithmetic(live, digits):
    from core.compress.combine import SubModelSpec, generate
    from core.link.reliability import WorkingCopy, clean_correctness
    from core.link.int8 import calibration_images
    from core.model.models import load_default

    sub = generate(load_default()[0], digits, SubModelSpec(bits=4))
    int8 = WorkingCopy(sub, "int8", calibration_images(digits))
    assert live.radio(key="live_arithmetic").value == "int8"  # integer codes: int8 kernels by default
    assert _percent(live, CLEAN) == pytest.approx(100 * clean_correctness(int8.evaluator, digits).mean(), abs=0.05)
    assert _metric(live, CLEAN).delta == f"8-bit integers; {100 * sub.card.accuracy:.1f} % in floating point (its card)"
    live.radio(key="live_arithmetic").set_value("float").run()
    assert not live.exception, live.exception
    assert _percent(live, CLEAN) == pytest.approx(100 * clean_correctness(sub.module, digits).mean(), abs=0.05)
    assert any("Computed in floating point." in c.value for c in live.caption)
    live.radio(key="live_arithmetic").set_value("int8").run()


def test_fp32_root_collapses_at_high_ber_and_sanitising_restores_it(live):
    live.selectbox(key="live_choice").select("Root model, fp32")
    live.run()
    assert not [r for r in live.radio if r.key == "live_arithmetic"]  # float weights: no int8 kernels offered
    assert any("8-bit integer arithmetic is not offered" in c.value for c in live.caption)
    live.selectbox(key="w_protection").select("none")  # the default receiver sanitises
    live.select_slider(key="live_target").set_value(2.0)
    live.select_slider(key="w_ber_exp").set_value(-3.0)
    live.run()
    assert not live.exception, live.exception
    broken = _percent(live, ESTIMATE)
    live.selectbox(key="w_protection").select("sanitise").run()
    assert not live.exception, live.exception
    sanitised = _percent(live, ESTIMATE)
    assert broken < 30
    assert sanitised > 80


def test_stop_keeps_the_estimate_so_far_and_continue_goes_on(live):
    live.button(key="live_stop").click().run()
    assert not live.exception, live.exception
    assert any("Stopped by you" in c.value for c in live.caption)
    assert [b.key for b in live.button if b.key in ("live_stop", "live_continue")] == ["live_continue"]
    live.button(key="live_continue").click().run()
    assert not live.exception, live.exception
    assert not any("Stopped by you" in c.value for c in live.caption)


@pytest.fixture(scope="module")
def shuffled_root(tmp_path_factory):
    """A second root model: the default one with its classifiers' outputs rotated by one class (so it is wrong
    almost always), saved as a checkpoint of its own."""
    from core.model.models import load_default, save_checkpoint

    root, card = load_default()
    with torch.no_grad():
        for name, p in root.named_parameters():
            if name.endswith(("fc.weight", "fc.bias")) and p.shape[0] == len(card.classes):
                p.copy_(torch.roll(p, 1, dims=0))
    folder = tmp_path_factory.mktemp("models")
    save_checkpoint(root, card, folder / "shuffled")
    return folder


def test_a_second_root_with_the_same_sub_model_and_ber_gets_its_own_numbers(monkeypatch, shuffled_root, tmp_path):
    """Bug 1 of issue 12: the cache of live estimates ignored the root model, so one root's numbers were shown
    for another."""
    monkeypatch.setenv("INSITU_MODELS", str(shuffled_root))
    monkeypatch.setenv("INSITU_LIBRARY", str(tmp_path / "no-library"))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    assert not at.exception, at.exception
    default_estimate, default_clean = _percent(at, ESTIMATE), _percent(at, CLEAN)
    other = next(o for o in at.selectbox(key="w_model").options if o.startswith("shuffled"))
    at.selectbox(key="w_model").select(other).run()
    assert not at.exception, at.exception
    assert at.session_state["settings"].model == other
    assert default_clean > 90 and _percent(at, CLEAN) < 20
    assert _percent(at, ESTIMATE) < 20 < default_estimate


def _send_a_chosen_entry(monkeypatch, library) -> AppTest:
    """The Live page on ``library``: the first sub-model chosen for the device, sent over the link in 2 trials."""
    monkeypatch.setenv("INSITU_LIBRARY", str(library))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    chosen = [o for o in at.selectbox(key="live_choice").options if o.startswith("Chosen for this device")]
    assert chosen
    at.selectbox(key="live_choice").select(chosen[0])
    at.number_input(key="live_trials").set_value(2).run()
    assert not at.exception, at.exception
    return at


def test_sub_models_chosen_for_the_device_can_be_sent_over_the_link(monkeypatch, tiny_library):
    at = _send_a_chosen_entry(monkeypatch, tiny_library)
    assert "over 2 trial(s) of 128 images" in _metric(at, ESTIMATE).delta


def test_lost_packets_from_a_local_4_bit_copy_degrade_gracefully(monkeypatch, tmp_path):
    monkeypatch.setenv("INSITU_LIBRARY", str(tmp_path / "none"))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    at.selectbox(key="live_choice").select("Root model, fp32")
    at.select_slider(key="w_ber_exp").set_value(-5.0)
    at.selectbox(key="pk_mode").select("zero").run()
    zeros = _percent(at, "Accuracy with the lost packets' values replaced")
    at.selectbox(key="pk_mode").select("fallback").run()
    assert not at.exception, at.exception
    fallback = _percent(at, "Accuracy with the lost packets' values replaced")
    assert fallback > 95
    assert fallback > zeros


def test_a_damaged_library_entry_is_reported_by_name_not_raised(monkeypatch, tiny_library, tmp_path):
    """Bug 2 of issue 12: a chosen library entry whose weight file is truncated gives a message that names it (and
    how to repair it) instead of a traceback; the page's other sub-models still work."""
    folder = tmp_path / "lib"
    shutil.copytree(tiny_library, folder)
    for weights in folder.glob("*.safetensors"):
        weights.write_bytes(weights.read_bytes()[:100])
    monkeypatch.setenv("INSITU_LIBRARY", str(folder))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    assert not at.exception, at.exception
    chosen = [o for o in at.selectbox(key="live_choice").options if o.startswith("Chosen for this device")]
    at.selectbox(key="live_choice").select(chosen[0]).run()
    assert not at.exception, at.exception
    assert any("damaged" in e.value and "Complete the library" in e.value for e in at.error)


def test_a_root_file_replaced_under_the_same_name_is_read_again(monkeypatch, shuffled_root, tmp_path):
    """Caches are keyed by the root's name: a checkpoint retrained into the same file must not keep showing the
    old file's numbers (the router clears the caches when a root's file changed)."""
    import shutil

    from core.model.models import DIGITS_CHECKPOINT

    folder = tmp_path / "models"
    folder.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(DIGITS_CHECKPOINT.with_suffix(suffix), folder / f"mine{suffix}")
    monkeypatch.setenv("INSITU_MODELS", str(folder))
    monkeypatch.setenv("INSITU_LIBRARY", str(tmp_path / "no-library"))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    mine = next(o for o in at.selectbox(key="w_model").options if o.startswith("mine"))
    at.selectbox(key="w_model").select(mine).run()
    assert not at.exception, at.exception
    before = _percent(at, CLEAN)
    for suffix in (".safetensors", ".json"):  # retrained into the same file: here, the shuffled root
        shutil.copy(shuffled_root / f"shuffled{suffix}", folder / f"mine{suffix}")
    at.run()
    assert not at.exception, at.exception
    after = _percent(at, CLEAN)
    assert before > 90 and after < 20, (before, after)


def test_a_read_only_library_folder_keeps_the_page_working_and_says_so(monkeypatch, tmp_path, tiny_library):
    """Issue 21 case 3: a read-only library folder (a read-only mount, a container) raised an uncaught OSError when
    a shipped entry's weights were regenerated. Now the entry is evaluated from memory and the page says that its
    weights could not be kept."""
    import errno

    from core.network.library import shipped

    folder = tmp_path / "lib"  # a library built on this CPU, its weight files not made yet (as a shipped one)
    shutil.copytree(tiny_library, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(shipped.tempfile, "mkstemp", read_only)
    at = _send_a_chosen_entry(monkeypatch, folder)
    assert any("cannot be written (Read-only file system)" in i.value and "used from memory" in i.value
               for i in at.info), [i.value for i in at.info]
    assert "over 2 trial(s)" in _metric(at, ESTIMATE).delta
    assert not list(folder.glob("*.safetensors")) and not list(folder.glob("*.tmp"))
