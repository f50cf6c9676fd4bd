"""DSI records, hardware presets, and the link helpers (BER from SNR, Shannon capacity)."""
import dataclasses
import math
import re

import numpy as np
import pytest

from core.network.dsi import (DSI, HARDWARE_PRESETS, Application, ChannelReport, Hardware, Location, dsi_from_presets)
from core.link.link_budget import MODULATIONS, ber_from_snr, ebn0_db_from_snr, shannon_capacity, snr_for_ber

PRESET_NAMES = ["passive RFID/NFC tag", "IoT sensor", "wearable", "smartphone", "tablet", "AR/VR headset", "vehicle"]


# --- BER and capacity -------------------------------------------------------------------------------------------

def test_bpsk_at_9_6_db_gives_about_1e_minus_5():
    assert 0.9e-5 < ber_from_snr(9.6, "BPSK") < 1.1e-5


def test_qpsk_needs_3_db_more_snr_than_bpsk_for_the_same_ber():
    # Same Eb/N0, two bits per symbol: the per-symbol SNR doubles.
    assert ber_from_snr(9.6 + 10 * math.log10(2), "QPSK") == pytest.approx(ber_from_snr(9.6, "BPSK"))
    assert ebn0_db_from_snr(20.0, "256-QAM") == pytest.approx(20.0 - 10 * math.log10(8))


def test_16qam_textbook_value():
    # Eb/N0 = 10 dB: 0.75 Q(sqrt(8)) = 1.75e-3, the usual Gray-coded approximation.
    assert ber_from_snr(10 + 10 * math.log10(4), "16-QAM") == pytest.approx(1.75e-3, rel=0.01)


def test_ber_falls_with_snr_and_rises_with_modulation_order():
    snr = np.linspace(-10, 40, 51)
    curves = np.array([ber_from_snr(snr, m) for m in MODULATIONS])
    assert curves.shape == (len(MODULATIONS), 51)
    assert (np.diff(curves, axis=1) <= 0).all()
    assert (np.diff(curves[:, 20], axis=0) > 0).all()  # at 10 dB: BPSK < QPSK < 16-QAM < 64-QAM < 256-QAM
    assert ((curves >= 0) & (curves <= 0.5)).all()


def test_snr_for_ber_inverts_ber_from_snr():
    snr = snr_for_ber(1e-3, "QPSK")
    assert ber_from_snr(snr, "QPSK") <= 1e-3 < ber_from_snr(snr - 0.01, "QPSK")


def test_shannon_capacity():
    assert shannon_capacity(1e6, 0.0) == pytest.approx(1e6)
    np.testing.assert_allclose(shannon_capacity(100e6, np.array([0.0, 30.0])), [100e6, 100e6 * math.log2(1001)])


# --- presets ----------------------------------------------------------------------------------------------------

def test_every_hardware_class_has_a_sourced_preset():
    assert list(HARDWARE_PRESETS) == PRESET_NAMES
    for key, hw in HARDWARE_PRESETS.items():
        assert hw.name == key and hw.source and hw.accelerators in (1, 2)
        assert hw.precisions == tuple(sorted(hw.precisions, reverse=True))


def test_presets_grow_from_tag_to_smartphone_and_the_tag_holds_only_a_few_kb():
    memory = [HARDWARE_PRESETS[k].model_memory_bytes for k in PRESET_NAMES[:4]]
    compute = [HARDWARE_PRESETS[k].compute_macs_per_s for k in PRESET_NAMES[:4]]
    assert memory == sorted(memory) and compute == sorted(compute)
    assert HARDWARE_PRESETS["passive RFID/NFC tag"].model_memory_bytes < 10e3


def test_hardware_normalises_precisions():
    hw = Hardware("custom", 1e6, 1e9, [8, 32, 8, 16])
    assert hw.precisions == (32, 16, 8) and hw.max_bits_per_param == 32


# --- records ----------------------------------------------------------------------------------------------------

def test_dsi_from_presets_defaults():
    dsi = dsi_from_presets()
    assert dsi.hardware is HARDWARE_PRESETS["smartphone"]
    assert dsi.application.latency_budget_s == 1.0
    assert (dsi.channel.downlink_bps, dsi.channel.uplink_bps, dsi.channel.ber) == (1e9, 0.5e9, 0.0)
    assert dsi.location is None


def test_dsi_from_presets_derives_ber_from_snr():
    dsi = dsi_from_presets("vehicle", "tactile", snr_db=12.0, modulation="16-QAM",
                           location=Location(22.28, 114.14, "campus"), min_accuracy=0.7, samples_per_task=5)
    assert dsi.channel.ber == ber_from_snr(12.0, "16-QAM")
    assert (dsi.channel.snr_db, dsi.channel.modulation) == (12.0, "16-QAM")
    assert dsi.application == Application("tactile", 1e-3, 0.7, 5)


def test_records_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        dsi_from_presets().channel.ber = 0.1


def test_channel_rejects_a_ber_that_contradicts_its_snr():
    with pytest.raises(ValueError, match="ber=0.1 does not follow from snr_db=10.0"):
        ChannelReport(1e9, 1e8, 0.1, 10.0, "QPSK")


@pytest.mark.parametrize("call, names", [
    (lambda: ChannelReport(0, 1e8), "downlink_bps=0"),
    (lambda: ChannelReport(1e9, -1), "uplink_bps=-1"),
    (lambda: ChannelReport(1e9, 1e8, 0.6), "ber=0.6"),
    (lambda: ChannelReport(1e9, 1e8, -0.1), "ber=-0.1"),
    (lambda: ChannelReport.from_snr(10, "8-PSK", 1e9, 1e8), "modulation='8-PSK'"),
    (lambda: Application("x", 0.0), "latency_budget_s=0.0"),
    (lambda: Application("x", 1.0, 1.5), "min_accuracy=1.5"),
    (lambda: Application("x", 1.0, 0.5, 0), "samples_per_task=0"),
    (lambda: Location(91, 0), "lat=91"),
    (lambda: Hardware("x", 1e6, 1e9, (8,), accelerators=3), "accelerators=3"),
    (lambda: Hardware("x", 0, 1e9, (8,)), "model_memory_bytes=0"),
    (lambda: Hardware("x", 1e6, 1e9, ()), "precisions=()"),
    (lambda: Hardware("x", 1e6, 1e9, (64,)), "precisions=64"),
    (lambda: DSI("phone", None, Application("x", 1.0), ChannelReport(1e9, 1e8)), "hardware='phone'"),
    (lambda: dsi_from_presets("toaster"), "hardware='toaster'"),
    (lambda: dsi_from_presets(application="gaming"), "application='gaming'"),
    (lambda: dsi_from_presets(downlink_bps=-1e9), "downlink_bps=-1000000000.0"),
    (lambda: ber_from_snr(np.array([1.0, np.nan]), "BPSK"), "snr_db[1]"),
    (lambda: shannon_capacity(0, 10), "bandwidth_hz=0"),
])
def test_bad_input_names_the_argument(call, names):
    with pytest.raises(ValueError, match=re.escape(names)):
        call()
