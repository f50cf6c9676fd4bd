"""Federated improvement of a library entry on Flower (issue 23): the digits root's exit-1 sub-model kept at 50 %
with 4-bit codes (pruned and quantised at once), 2 rounds x 4 devices on Flower's simulation with a local Ray.

Flower's runs share one module fixture (two runs with the same seed); they skip, with the reason, where
``flwr`` is not installed (requirements-ray.txt installs it). Config, split and uplink-bit checks run without Flower."""
import numpy as np
import pytest
import torch

from core.compress.payload import INT_BITS, SCALE_BITS, channel_scales
from core.federated import FederatedConfig
from core.federated.flower import flower_missing
from core.federated.local import Compression, update_uplink_bits
from core.federated.oracle import device_updates, fedavg
from core.federated.partition import class_counts, partition

CONFIG = FederatedConfig(devices=4, rounds=2, local_steps=3, batch_size=16, lr=0.01, split="dirichlet", alpha=0.5,
                         update_bits=6, cpus=2)
needs_flower = pytest.mark.skipif(flower_missing() is not None, reason=str(flower_missing()))


@pytest.fixture(scope="module")
def entry(root, digits):
    """Exit 1, keep 50 %, 4-bit: zeros that must stay zero and codes that must stay on their grid."""
    from core.compress.combine import SubModelSpec, generate

    return generate(root, digits, SubModelSpec(depth=1, keep_ratio=0.5, bits=4, retrain_steps=5), 0,
                    evaluate=False)


@pytest.fixture(scope="module")
def runs(entry, digits):
    from core.federated.flower import improve

    if flower_missing():
        pytest.skip(flower_missing())
    seen = []
    first = improve(entry, digits, CONFIG, seed=3, keep_updates=True, progress=seen.append)
    again = improve(entry, digits, CONFIG, seed=3)
    return first, again, seen


# ---------- without Flower ----------

@pytest.mark.parametrize("field, value", [("devices", 0), ("rounds", 1.5), ("local_steps", -1), ("lr", 0.0),
                                          ("split", "iid"), ("alpha", 0), ("update_bits", 1), ("update_bits", 12),
                                          ("eval_limit", 0), ("cpus", True), ("augment", "yes")])
def test_a_bad_setting_is_refused_by_its_name(field, value):
    with pytest.raises(ValueError, match=field):
        FederatedConfig(**{field: value})


def test_improve_refuses_a_bad_argument_by_its_name_before_starting_anything(entry, digits):
    from core.federated.flower import improve

    with pytest.raises(ValueError, match="entry"):
        improve("d4-r1-b4-s0", digits, CONFIG, 0)
    with pytest.raises(ValueError, match="config"):
        improve(entry, digits, {"devices": 4}, 0)
    with pytest.raises(ValueError, match="seed"):
        improve(entry, digits, CONFIG, -1)
    with pytest.raises(ValueError, match="devices"):
        partition(digits.y_train.numpy(), FederatedConfig(devices=5000), 0)


def test_the_split_is_seeded_disjoint_and_non_iid(digits):
    labels = digits.y_train.numpy()
    shares = partition(labels, CONFIG, 7)
    assert all(np.array_equal(a, b) for a, b in zip(shares, partition(labels, CONFIG, 7)))
    assert not all(np.array_equal(a, b) for a, b in zip(shares, partition(labels, CONFIG, 8)))
    joined = np.concatenate(shares)
    assert len(np.unique(joined)) == len(joined) == len(labels)  # every photo once
    counts = class_counts(labels, shares, 10) / np.array([len(s) for s in shares])[:, None]
    assert counts.max() > 0.3  # Dirichlet(0.5): some class far above its 10 % share on some device

    by_class = FederatedConfig(devices=4, split="by_class", classes_per_device=2)
    held = class_counts(labels, partition(labels, by_class, 7), 10) > 0
    assert (held.sum(axis=1) == 2).all()  # each device sees only the 2 classes of its place


def test_uplink_bits_are_the_sent_parameters_times_update_bits_plus_one_scale_per_channel(entry):
    """Counted independently: pruned weights are known to the server and not sent; one fp32 scale per output
    channel of every tensor (one per 1-D tensor) for integer codes."""
    state = dict(entry.module.state_dict())
    sent = sum(int(entry.masks[k].sum()) if k in entry.masks else v.numel() for k, v in state.items())
    channels = sum(v.shape[0] if v.dim() > 1 else 1 for v in state.values())
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert update_uplink_bits(shapes, 6, entry.masks) == sent * 6 + channels * SCALE_BITS
    assert update_uplink_bits(shapes, 32, entry.masks) == sent * 32  # fp32 updates carry no scales
    assert sent < sum(v.numel() for v in state.values())  # the entry is pruned: fewer sent than it has


# ---------- on Flower ----------

@needs_flower
def test_the_same_seed_gives_the_same_rounds(runs):
    first, again, _ = runs
    assert first.accuracy == again.accuracy and len(first.accuracy) == CONFIG.rounds + 1
    assert np.array_equal(first.uplink_bits, again.uplink_bits)
    assert all(torch.equal(first.state[k], again.state[k]) for k in first.state)


@needs_flower
def test_the_aggregate_is_an_independent_fedavg_of_the_same_updates_weighted_by_photos(runs, digits):
    first, _, _ = runs
    assert [r.server_round for r in first.rounds] == [1, 2]
    shares = partition(digits.y_train.numpy(), CONFIG, 3)
    for rec, following in zip(first.rounds, list(first.rounds[1:]) + [None]):
        assert rec.devices == (0, 1, 2, 3) and rec.photos == tuple(len(s) for s in shares)
        mean = fedavg(list(rec.updates), list(rec.photos))
        for k, v in mean.items():
            np.testing.assert_allclose(rec.aggregate[k], v, rtol=1e-5, atol=1e-7, err_msg=k)
        nxt = first.latent if following is None else {k: torch.from_numpy(v) for k, v in following.start.items()}
        for k in rec.start:
            np.testing.assert_allclose(nxt[k].numpy(), rec.start[k] + rec.aggregate[k], rtol=1e-6, atol=1e-7)


@needs_flower
def test_devices_on_ray_send_what_the_same_training_here_sends(runs, entry, digits):
    """The round-1 updates received by Flower's server equal those computed serially in this process."""
    first, _, _ = runs
    rec = first.rounds[0]
    here = device_updates(entry, digits, CONFIG, 3, 1, rec.start)
    for received, mine in zip(rec.updates, here):
        for k in mine:
            np.testing.assert_allclose(received[k], mine[k], rtol=0, atol=1e-6, err_msg=k)


@needs_flower
def test_compression_is_kept_after_aggregation(runs, entry):
    first, _, _ = runs
    compression = Compression.of(entry)
    assert compression.masks, "the test entry must be pruned"
    for name, mask in compression.masks.items():  # zeros stay zero: in the version and in the server's model
        assert not first.state[name][~mask].any() and not first.latent[name][~mask].any(), name
        assert first.state[name][mask].ne(0).float().mean() > 0.9, name  # the kept weights are still there
    coded = [n for n, b in compression.widths.items() if b in INT_BITS]
    assert any(compression.widths[n] == 4 for n in coded)
    for name in coded:  # codes stay on their grid: integer multiples of the per-channel scale, within range
        bits = compression.widths[name]
        w = first.state[name].numpy()
        scales = channel_scales(w, bits).reshape(-1, *([1] * (w.ndim - 1)))
        ratio = w / np.where(scales > 0, scales, 1.0) if w.ndim > 1 else w / max(float(scales.max()), 1e-30)
        assert np.abs(ratio - np.rint(ratio)).max() < 1e-3, name
        assert np.abs(np.rint(ratio)).max() <= (1 << (bits - 1)) - 1, name
    changed = sum(int((first.state[n] != torch.as_tensor(entry.module.state_dict()[n])).sum()) for n in coded)
    assert changed > 0  # the rounds did move codes (the check above is not about an untouched model)


@needs_flower
def test_the_uplink_bits_of_a_run_are_counted_per_device_and_round(runs, entry):
    first, _, _ = runs
    state = entry.module.state_dict()
    expected = update_uplink_bits({k: tuple(v.shape) for k, v in state.items()}, CONFIG.update_bits, entry.masks)
    assert first.uplink_bits.shape == (CONFIG.rounds, CONFIG.devices)
    assert (first.uplink_bits == expected).all()
    assert list(first.uplink_bits_per_round) == [CONFIG.devices * expected] * CONFIG.rounds


# ---------- progress, targets and the central bound ----------

def test_progress_reports_every_round_as_the_result_has_it(runs):
    first, _, seen = runs
    assert [e["round"] for e in seen] == list(range(CONFIG.rounds + 1))
    assert tuple(e["accuracy"] for e in seen) == first.accuracy
    assert seen[0]["uplink_bits"] == []
    for r, e in enumerate(seen[1:]):
        assert e["uplink_bits"] == [int(b) for b in first.uplink_bits[r]]
    assert all(a["seconds"] <= b["seconds"] for a, b in zip(seen, seen[1:]))


def test_rounds_to_target_is_the_first_round_that_reaches_it():
    from core.federated.local import halfway_target, rounds_to_target

    assert rounds_to_target((0.80, 0.82, 0.86, 0.85, 0.90), 0.85) == 2
    assert rounds_to_target((0.80, 0.82), 0.80) == 0
    assert rounds_to_target((0.80, 0.82), 0.90) is None
    assert halfway_target(0.80, 0.90) == pytest.approx(0.85)
    assert halfway_target(0.90, 0.80) == 0.90          # nothing lost: the target is where it starts
    with pytest.raises(ValueError, match="target"):
        rounds_to_target((0.8,), 85)


def test_the_central_curve_starts_at_the_entry_and_keeps_its_compression(entry, digits):
    from core.federated.local import central_curve

    small = FederatedConfig(devices=2, rounds=2, local_steps=2, batch_size=8, lr=0.01, eval_limit=100, cpus=1)
    curve = central_curve(entry, digits, small, 0)
    assert len(curve) == small.rounds + 1
    from core.compress.common import transmitted_state
    from core.federated.local import load_version
    from core.model.evaluate import accuracy

    from core.federated.local import scoring_data

    assert curve[0] == accuracy(load_version(entry, transmitted_state(entry.module)), scoring_data(digits, 100))
    assert curve == central_curve(entry, digits, small, 0)        # seeded


def test_the_command_writes_its_progress_file_line_by_line(tmp_path):
    """The Improve together page reads this file while the run goes on: every line a whole JSON event."""
    import json
    import subprocess
    import sys

    if flower_missing():
        pytest.skip(flower_missing())
    out = tmp_path / "progress.jsonl"
    done = subprocess.run([sys.executable, "-m", "core.federated", "--root", "resnet18_digits", "--bits", "4",
                           "--devices", "2", "--rounds", "1", "--local-steps", "1", "--batch-size", "8",
                           "--eval-limit", "50", "--cpus", "2", "--progress", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "round", "round", "done"]
    assert events[0]["test_images"] == 50 and events[0]["devices"] == 2
    assert len(events[2]["uplink_bits"]) == 2 and events[3]["rounds_to_target"] in (None, 0, 1)

    bad = subprocess.run([sys.executable, "-m", "core.federated", "--root", "resnet18_digits", "--bits", "4",
                          "--target", "86", "--progress", str(tmp_path / "bad.jsonl")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "target=86" in bad.stderr
    said = json.loads((tmp_path / "bad.jsonl").read_text().splitlines()[-1])
    assert said["event"] == "error" and "target=86" in said["message"]


def test_rounds_are_scored_on_a_fixed_class_balanced_draw_not_the_first_photos():
    """The shipped CIFAR-10 test photos are sorted by class: the first 1,000 are all airplanes. A round scored on
    N photos must see every class in its share, the same photos in every run."""
    from core.federated.local import scoring_data
    from core.model.data import load_for_card
    from core.model.models import ASSETS, load_checkpoint

    checkpoint = ASSETS / "resnet18_cifar10.safetensors"
    _, card = load_checkpoint(checkpoint)
    data = load_for_card(card, checkpoint)
    assert (data.y_test[:1000] == data.y_test[0]).all()          # why the first N would be wrong
    scored = scoring_data(data, 1000)
    assert np.bincount(scored.y_test.numpy(), minlength=10).tolist() == [100] * 10
    assert torch.equal(scored.y_test, scoring_data(data, 1000).y_test)
    assert torch.equal(scored.x_test, scoring_data(data, 1000).x_test)
    odd = np.bincount(scoring_data(data, 37).y_test.numpy(), minlength=10)
    assert odd.sum() == 37 and odd.min() >= 3 and odd.max() <= 4
    assert scoring_data(data, None) is data and scoring_data(data, 10**6) is data
