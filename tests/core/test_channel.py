"""The binary symmetric channel (core.link.bsc), receiver protections and the packet view (core.link.packets) on
small synthetic payloads."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core.link.bsc import check_payload, corrupt, flip_bits, receive, small_tensor_names
from core.link.packets import PacketConfig, fallback_values, lose_packets, packet_error_rate, packet_report
from core.link.protections import PROTECTION_NAMES, uep_cost_bits
from core.compress.payload import Payload, Segment, TensorFormat, channel_scales, decode, encode


def _popcount(x: np.ndarray) -> int:
    return int(np.unpackbits(x.view(np.uint8)).sum())


def _payload(seed: int = 0) -> Payload:
    """fp32, fp16, 4-bit codes, a bitmap-pruned and a relative-index-pruned tensor, and a BN-like vector."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(16, 8, 3, 3, generator=g) * 0.1
    codes = torch.randn(32, 64, generator=g) * 0.05
    pruned = torch.randn(64, 64, generator=g)
    mask_dense = (torch.rand(64, 64, generator=g) < 0.5).numpy()
    very_sparse = torch.randn(128, 128, generator=g)
    mask_sparse = (torch.rand(128, 128, generator=g) < 0.02).numpy()
    state = {"conv.weight": w, "half.weight": w.clone(), "fc.weight": codes, "pruned.weight": pruned,
             "sparse.weight": very_sparse, "bn.running_var": torch.rand(16, generator=g) + 0.5}
    formats = {"half.weight": TensorFormat(bits=16),
               "fc.weight": TensorFormat(bits=4, scales=channel_scales(codes.numpy(), 4)),
               "pruned.weight": TensorFormat(bits=32, mask=mask_dense),
               "sparse.weight": TensorFormat(bits=32, mask=mask_sparse)}
    return encode(state, formats)


@pytest.fixture(scope="module")
def payload() -> Payload:
    return _payload()


def test_synthetic_payload_has_every_encoding(payload):
    encodings = {r.encoding for r in payload.records}
    assert encodings == {"dense", "bitmap", "relative"}


def test_ber_zero_leaves_every_word_identical(payload):
    hit = corrupt(payload, 0.0, np.random.default_rng(0), "none")
    assert hit.flips == 0 and hit.hits == ()
    clean, received = decode(payload), decode(payload, hit.segments(payload))
    for name, tensor in clean.items():
        assert torch.equal(tensor.view(torch.int32), received[name].view(torch.int32))


def test_flip_bits_at_ber_zero_returns_an_identical_copy():
    words = np.arange(1000, dtype=np.uint16)
    out, flips = flip_bits(words, 16, 0.0, np.random.default_rng(1))
    assert flips == 0 and out is not words and np.array_equal(out, words)


def test_flip_count_matches_binomial_and_flips_are_distinct_bits():
    words = np.zeros(200_000, dtype=np.uint8)
    n_bits, ber = words.size * 8, 1e-3
    out, flips = flip_bits(words, 8, ber, np.random.default_rng(2))
    sd = np.sqrt(n_bits * ber * (1 - ber))
    assert abs(flips - n_bits * ber) < 5 * sd
    assert _popcount(out) == flips  # every counted flip changed a distinct bit


def test_flip_rate_over_many_trials_matches_ber_within_statistical_bounds():
    words = np.zeros(4096, dtype=np.uint32)
    ber, trials = 5e-3, 200
    total = sum(flip_bits(words, 32, ber, np.random.default_rng([7, i]))[1] for i in range(trials))
    n = words.size * 32 * trials
    sd = np.sqrt(n * ber * (1 - ber))
    assert abs(total - n * ber) < 5 * sd, (total / n, ber)


def test_every_bit_position_flips_at_the_same_rate():
    words = np.zeros(100_000, dtype=np.uint16)
    out, _ = flip_bits(words, 12, 0.02, np.random.default_rng(3))
    per_bit = np.array([int(((out >> b) & 1).sum()) for b in range(16)])
    expected = words.size * 0.02
    assert np.all(np.abs(per_bit[:12] - expected) < 6 * np.sqrt(expected))
    assert per_bit[12:].sum() == 0  # bits above the word width never flip


def test_uep_protected_top_bits_never_flip():
    words = np.random.default_rng(4).integers(0, 2**32, 50_000, dtype=np.uint32)
    out, flips = flip_bits(words, 32, 0.1, np.random.default_rng(5), protected_bits=9)
    assert flips > 0
    assert not np.any((out ^ words) >> np.uint32(23))


def test_same_seed_same_corruption_different_seed_different(payload):
    a = corrupt(payload, 1e-2, np.random.default_rng([0, 1]))
    b = corrupt(payload, 1e-2, np.random.default_rng([0, 1]))
    c = corrupt(payload, 1e-2, np.random.default_rng([0, 2]))
    sa, sb, sc = a.segments(payload), b.segments(payload), c.segments(payload)
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert a.flips != c.flips or any(not np.array_equal(sa[k], sc.get(k, sa[k] + 1)) for k in sa)


def _index_bits(payload) -> int:
    return sum(s.bits for s in payload.segments if s.kind == "index")


def test_corrupt_counts_flips_and_exposed_bits(payload):
    hit = corrupt(payload, 0.05, np.random.default_rng(6))
    # The sparse index (which weights a pruned tensor keeps) is architecture: it travels with the topology.
    assert _index_bits(payload) > 0
    assert hit.reliable_bits == _index_bits(payload)
    assert hit.lossy_bits == payload.payload_bits - _index_bits(payload)
    corrupted = hit.segments(payload)
    changed = sum(_popcount(corrupted[(s.tensor, s.kind)] ^ s.words) for s in payload.segments
                  if (s.tensor, s.kind) in corrupted)
    assert changed == hit.flips


def test_index_bits_travel_reliably_with_every_protection_unless_asked_otherwise(payload):
    for protection in PROTECTION_NAMES:
        hit = corrupt(payload, 1e-2, np.random.default_rng(8), protection)
        assert not any(h.kind == "index" for h in hit.hits), protection
        assert hit.flips > 0
    lossy = corrupt(payload, 1e-2, np.random.default_rng(8), index_reliable=False)
    kinds = {(h.tensor, h.kind) for h in lossy.hits}
    assert ("pruned.weight", "index") in kinds and ("sparse.weight", "index") in kinds
    assert lossy.lossy_bits == payload.payload_bits and lossy.reliable_bits == 0


def test_uep_sends_top_bits_reliably_and_reports_their_cost(payload):
    hit = corrupt(payload, 0.05, np.random.default_rng(9), "uep")
    assert hit.reliable_bits == uep_cost_bits(payload)
    assert hit.lossy_bits + hit.reliable_bits == payload.payload_bits
    fp32 = next(s for s in payload.segments if s.tensor == "conv.weight")
    assert uep_cost_bits(payload) >= fp32.words.size * 9
    segs = hit.segments(payload)
    hit_values = [seg for seg in payload.segments if (seg.tensor, seg.kind) in segs and seg.kind == "values"]
    assert hit_values  # the check below really looks at words the channel hit
    for seg in hit_values:
        top = {32: 9, 16: 6}.get(seg.width, 2)
        assert not np.any((segs[(seg.tensor, seg.kind)] ^ seg.words) >> (seg.width - top)), seg.tensor
    assert any(seg.kind == "index" for seg in payload.segments)
    for seg in payload.segments:
        if seg.kind == "index":
            assert (seg.tensor, "index") not in segs  # sparse indices travel reliably under UEP


def test_uep_bits_is_a_parameter(payload):
    assert uep_cost_bits(payload, uep_bits=1, index_reliable=False) == sum(
        s.words.size for s in payload.segments if s.kind == "values")


def test_reliable_tensors_are_never_hit(payload):
    names = small_tensor_names(payload)
    assert names == ("bn.running_var",)
    hit = corrupt(payload, 0.2, np.random.default_rng(10), reliable=names)
    assert "bn.running_var" not in hit.tensors and hit.reliable_bits == 16 * 32 + _index_bits(payload)


def test_sanitise_removes_every_non_finite_value(payload):
    nonfinite_seen = 0
    for i in range(20):
        hit = corrupt(payload, 1e-2, np.random.default_rng([11, i]), "sanitise")
        raw = receive(payload, hit, "none")
        nonfinite_seen += raw.nonfinite
        got = receive(payload, hit)
        for name, value in got.tensors.items():
            values = value[1] if isinstance(value, tuple) else value
            r = payload.record(name)
            assert np.all(np.isfinite(values)), name
            assert np.all((values == 0) | ((values >= r.vmin) & (values <= r.vmax))), name
    assert nonfinite_seen > 0  # the test saw what sanitise must remove


def test_clamp_keeps_values_in_the_topology_range(payload):
    hit = corrupt(payload, 2e-2, np.random.default_rng(12), "clamp")
    got = receive(payload, hit)
    assert got.replaced > 0
    for name, value in got.tensors.items():
        values = value[1] if isinstance(value, tuple) else value
        r = payload.record(name)
        assert np.all(np.isfinite(values))
        assert np.all((values == 0) | ((values >= r.vmin) & (values <= r.vmax)))


def test_clean_values_lie_inside_the_sent_range(payload):
    clean = decode(payload)
    for r in payload.records:
        v = clean[r.name].numpy()
        assert np.all((v == 0) | ((v >= r.vmin) & (v <= r.vmax))), r.name


@pytest.mark.parametrize("ber", [-0.1, 0.51, float("nan"), "x"])
def test_ber_outside_zero_to_half_is_refused(payload, ber):
    with pytest.raises(ValueError, match="ber"):
        corrupt(payload, ber, np.random.default_rng(0))


def test_unknown_protection_is_refused(payload):
    with pytest.raises(ValueError, match="protection='parity'.*none"):
        corrupt(payload, 1e-3, np.random.default_rng(0), "parity")


def test_global_random_state_is_refused():
    with pytest.raises(ValueError, match="rng"):
        flip_bits(np.zeros(4, np.uint8), 8, 0.1, np.random)


def test_signed_words_are_refused():
    with pytest.raises(ValueError, match="unsigned"):
        flip_bits(np.zeros(4, np.int32), 32, 0.1, np.random.default_rng(0))


def test_payload_that_does_not_match_its_topology_is_refused(payload):
    seg = payload.segments[0]
    short = Segment(seg.tensor, seg.kind, seg.width, seg.words[:-1])
    bad = Payload(payload.records, (short,) + payload.segments[1:])
    with pytest.raises(ValueError, match="words, but the topology says"):
        corrupt(bad, 1e-3, np.random.default_rng(0))
    wide = Payload(payload.records, (dataclasses.replace(seg, width=16),) + payload.segments[1:])
    with pytest.raises(ValueError, match="width"):
        check_payload(wide)
    missing = Payload(payload.records, payload.segments[1:])
    with pytest.raises(ValueError, match="no 'values' segment"):
        check_payload(missing)


def test_packet_error_rate_formula():
    assert packet_error_rate(0.0, 1000) == 0.0
    assert packet_error_rate(1e-4, 12000) == pytest.approx(1 - (1 - 1e-4) ** 12000, rel=1e-12)
    with pytest.raises(ValueError, match="packet_bits"):
        PacketConfig(packet_bits=8)
    with pytest.raises(ValueError, match="mode='drop'"):
        PacketConfig(mode="drop")


def test_packet_report_expected_retransmissions():
    cfg = PacketConfig(1000, "retransmit")
    rep = packet_report(10_000, 1e-4, cfg, rate_bps=1e6)
    per = 1 - (1 - 1e-4) ** 1000
    assert rep.packets == 10
    assert rep.expected_extra_bits == pytest.approx(10 * 1000 * per / (1 - per))
    assert rep.expected_extra_seconds == pytest.approx(rep.expected_extra_bits / 1e6)


def test_retransmission_delivers_everything_at_a_cost(payload):
    loss = lose_packets(payload, 1e-3, np.random.default_rng(13), PacketConfig(512, "retransmit"))
    assert loss.tensors == {} and loss.lost_packets == 0 and loss.retransmitted_bits > 0


def test_lost_packets_become_zeros_or_fallback_values(payload):
    clean = decode(payload)
    zero = lose_packets(payload, 2e-3, np.random.default_rng(14), PacketConfig(256, "zero"))
    assert zero.lost_packets > 0 and zero.replaced > 0
    fallback = {name: torch.full_like(t, 7.0) for name, t in clean.items()}
    fb = lose_packets(payload, 2e-3, np.random.default_rng(14), PacketConfig(256, "fallback"), fallback)
    assert fb.lost_packets > 0 and fb.tensors  # the loop below has lost values to look at
    replaced = 0
    for name, values in fb.tensors.items():
        changed = values != clean[name].numpy()
        assert np.all(values[changed] == 7.0), name
        replaced += int(changed.sum())
    assert replaced > 0
    with pytest.raises(ValueError, match="fallback"):
        lose_packets(payload, 1e-3, np.random.default_rng(0), PacketConfig(256, "fallback"))


@pytest.mark.parametrize("protection", PROTECTION_NAMES)
def test_every_protection_runs_on_every_encoding(payload, protection):
    hit = corrupt(payload, 1e-2, np.random.default_rng(15), protection)
    got = receive(payload, hit)
    assert set(got.tensors) == set(hit.tensors)


def test_fallback_values_are_the_local_models_decoded_tensors(payload):
    local = _payload(seed=1)
    values = fallback_values(payload, local)
    assert set(values) == {r.name for r in payload.records}
    assert np.array_equal(values["fc.weight"], decode(local)["fc.weight"].numpy())


def test_fallback_from_a_model_with_other_tensors_is_refused_by_name(payload):
    other = encode({"conv.weight": torch.zeros(16, 8, 3, 3)}, {})
    with pytest.raises(ValueError, match="local: the local model has other tensors.*missing"):
        fallback_values(payload, other)
