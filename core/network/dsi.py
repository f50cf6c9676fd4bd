"""Device situation information (DSI): what a device reports when it asks for a model (paper Sec. 1 and 3).

Validated frozen records in SI units (bytes, MAC/s, seconds, bit/s) with hardware presets that carry their source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.link.link_budget import MODULATIONS, ber_from_snr
from core.network.rates import APPLICATIONS
from core.validation import check_choice, check_int, check_range

# Vendors quote TOPS; one multiply-accumulate is two operations.
OPS_PER_MAC = 2


def _check_name(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}={value!r} must be a non-empty string")
    return value


@dataclass(frozen=True)
class Hardware:
    """A device's AI hardware: memory for a model, compute rate, supported weight bit widths, one or two accelerators.

    ``compute_macs_per_s`` is the headline rate, at the device's fastest precision (an NPU's TOPS count is for its
    integer precisions); ``rate_factors`` gives each precision's rate as a share of it, e.g. ((32, 0.06), (8, 1.0)):
    fp32 runs on the GPU or CPU, far slower than the NPU's 8-bit units. Changing the headline (a user's override)
    scales every precision alike. Two accelerators allow the paper's transparent switch (load the new model into
    one while the other runs).
    """
    name: str
    model_memory_bytes: float
    compute_macs_per_s: float
    precisions: tuple[int, ...]
    accelerators: int = 1
    load_rate_bytes_per_s: float = 1e9
    source: str = "user-defined"
    rate_factors: tuple[tuple[int, float], ...] = ()

    def __post_init__(self):
        _check_name("name", self.name)
        check_range("model_memory_bytes", self.model_memory_bytes, 0.0, lo_open=True)
        check_range("compute_macs_per_s", self.compute_macs_per_s, 0.0, lo_open=True)
        check_int("accelerators", self.accelerators, 1, 2)
        check_range("load_rate_bytes_per_s", self.load_rate_bytes_per_s, 0.0, lo_open=True)
        try:
            widths = tuple(self.precisions)
        except TypeError:
            raise ValueError(f"precisions={self.precisions!r} must be a sequence of bit widths in [1, 32]") from None
        if not widths:
            raise ValueError(f"precisions={self.precisions!r} must name at least one bit width in [1, 32]")
        for width in widths:
            check_int("precisions", width, 1, 32)
        # Stored widest first and without duplicates, so that equal hardware compares equal.
        object.__setattr__(self, "precisions", tuple(sorted({int(w) for w in widths}, reverse=True)))
        try:
            factors = tuple((bits, share) for bits, share in self.rate_factors)
        except (TypeError, ValueError):
            raise ValueError(f"rate_factors={self.rate_factors!r} must be (bits, share of compute_macs_per_s) "
                             "pairs, e.g. ((32, 0.06), (8, 1.0))") from None
        for bits, share in factors:
            check_int("rate_factors bits", bits, 1, 32)
            check_range(f"rate_factors share at {bits} bits", share, 0.0, 1.0, lo_open=True)
        object.__setattr__(self, "rate_factors", tuple(sorted((int(b), float(f)) for b, f in factors)))

    def macs_per_s(self, bits: int) -> float:
        """Multiply-adds per second with weights of ``bits`` bits: the rate of the narrowest precision listed in
        ``rate_factors`` that holds them (4-bit codes run on 8-bit units at their rate); the headline rate where
        none is listed."""
        check_int("bits", bits, 1, 32)
        for width, share in self.rate_factors:
            if width >= bits:
                return self.compute_macs_per_s * share
        return self.compute_macs_per_s

    @property
    def max_bits_per_param(self) -> int:
        """The widest weight precision the device runs."""
        return self.precisions[0]


HARDWARE_PRESETS: dict[str, Hardware] = {
    # Computational RFID: a few kB for weights, so that no sub-model fits; that is a normal answer downstream.
    "passive RFID/NFC tag": Hardware(
        "passive RFID/NFC tag", 4e3, 1e6, (16, 8), 1, 1e6,
        "WISP 5 computational RFID (TI MSP430FR5969: 64 kB FRAM, 2 kB SRAM, 16-bit multiplier, <= 16 MHz); "
        "a 4 kB model budget and ~1 MMAC/s under harvested power are assumptions; 8- and 16-bit weights use the "
        "same 16-bit multiplier", ((8, 1.0), (16, 1.0))),
    "IoT sensor": Hardware(
        "IoT sensor", 256e3, 6.4e7, (32, 16, 8), 1, 1e5,
        "Nordic nRF52840 (Cortex-M4F 64 MHz, 1 MB flash, 256 kB RAM); ~1 MAC/cycle with CMSIS-NN's 8- and 16-bit "
        "kernels; fp32 on the FPU at about half that (assumption: loads and conversions); "
        "load = flash write ~100 kB/s; 256 kB model budget assumed", ((8, 1.0), (16, 1.0), (32, 0.5))),
    "wearable": Hardware(
        "wearable", 100e6, 5e10, (16, 8), 1, 1e9,
        "smartwatch class (e.g. Snapdragon W5+ Gen 1, 2 GB RAM); no vendor TOPS published: "
        "0.1 TOPS at 8 bits, half that at 16 bits, 100 MB model budget and 1 GB/s load are order-of-magnitude "
        "assumptions", ((8, 1.0), (16, 0.5))),
    "smartphone": Hardware(
        "smartphone", 1e9, 35e12 / OPS_PER_MAC, (32, 16, 8, 4), 2, 4e9,
        "Apple A17 Pro (iPhone 15 Pro: 8 GB RAM); Neural Engine 35 TOPS, an 8-bit integer figure (the A16's "
        "17 TOPS were fp16), so fp16 at half of it; fp32 runs on the 6-core GPU, about 2.15 TFLOPS; 4-bit codes "
        "run on the 8-bit units; 1 GB model budget, 4 GB/s load (flash read) and two accelerators (paper Fig. 2) "
        "assumed", ((4, 1.0), (8, 1.0), (16, 0.5), (32, 2.15 / 35))),
    "tablet": Hardware(
        "tablet", 2e9, 38e12 / OPS_PER_MAC, (32, 16, 8, 4), 2, 4e9,
        "Apple M4 (iPad Pro 2024: 8-16 GB RAM); Neural Engine 38 TOPS, an 8-bit integer figure, so fp16 at half "
        "of it; fp32 on the 10-core GPU, about 4.3 TFLOPS; 2 GB model budget and 4 GB/s load assumed",
        ((4, 1.0), (8, 1.0), (16, 0.5), (32, 4.3 / 38))),
    "AR/VR headset": Hardware(
        "AR/VR headset", 2e9, 15.8e12 / OPS_PER_MAC, (32, 16, 8), 2, 4e9,
        "Apple Vision Pro (M2: 16 GB unified memory); Neural Engine 15.8 TOPS, an fp16 figure (8-bit weights run "
        "at the same rate); fp32 on the 10-core GPU, about 3.6 TFLOPS; 2 GB model budget and 4 GB/s load assumed",
        ((8, 1.0), (16, 1.0), (32, 3.6 / 15.8))),
    "vehicle": Hardware(
        "vehicle", 8e9, 254e12 / 2 / OPS_PER_MAC, (32, 16, 8), 2, 7e9,
        "NVIDIA DRIVE AGX Orin (254 INT8 TOPS, 32 GB LPDDR5, GPU + 2 DLAs); TOPS halved as the vendor "
        "figure counts 2:4 sparsity; fp16 at half the 8-bit rate; fp32 on the GPU's CUDA cores, 5.3 TFLOPS; "
        "8 GB model budget and 7 GB/s (NVMe) load assumed", ((8, 1.0), (16, 0.5), (32, 5.3 / 127))),
}


@dataclass(frozen=True)
class Location:
    """Where the device is, in WGS-84 degrees, with an optional place name (e.g. 'museum')."""
    lat: float
    lon: float
    place: str | None = None

    def __post_init__(self):
        check_range("lat", self.lat, -90.0, 90.0)
        check_range("lon", self.lon, -180.0, 180.0)
        if self.place is not None:
            _check_name("place", self.place)


@dataclass(frozen=True)
class Application:
    """What the model is for: over-the-air latency budget (s; inf = offline), minimum accuracy, samples per task."""
    name: str
    latency_budget_s: float
    min_accuracy: float = 0.0
    samples_per_task: int = 1

    def __post_init__(self):
        _check_name("name", self.name)
        check_range("latency_budget_s", self.latency_budget_s, 0.0, lo_open=True)
        check_range("min_accuracy", self.min_accuracy, 0.0, 1.0)
        check_int("samples_per_task", self.samples_per_task, 1)


@dataclass(frozen=True)
class ChannelReport:
    """What the device reports about its link (the DSI's channel part; the channel itself is core.link): downlink
    and uplink rates (bit/s) and the payload bit-error rate in [0, 0.5].

    ``snr_db`` and ``modulation`` record where the BER came from when it was derived with ``from_snr``.
    """
    downlink_bps: float
    uplink_bps: float
    ber: float = 0.0
    snr_db: float | None = None
    modulation: str | None = None

    def __post_init__(self):
        check_range("downlink_bps", self.downlink_bps, 0.0, lo_open=True)
        check_range("uplink_bps", self.uplink_bps, 0.0, lo_open=True)
        check_range("ber", self.ber, 0.0, 0.5)
        if (self.snr_db is None) != (self.modulation is None):
            raise ValueError(f"snr_db={self.snr_db!r} and modulation={self.modulation!r} must be given together "
                             "or both left None")
        if self.modulation is not None:
            check_choice("modulation", self.modulation, MODULATIONS)
            expected = ber_from_snr(self.snr_db, self.modulation)
            # A record whose BER contradicts its own SNR would mislead every consumer downstream.
            if not math.isclose(self.ber, expected, rel_tol=1e-9, abs_tol=1e-300):
                raise ValueError(f"ber={self.ber!r} does not follow from snr_db={self.snr_db!r} with "
                                 f"{self.modulation}; allowed: {expected!r} (use ChannelReport.from_snr)")

    @classmethod
    def from_snr(cls, snr_db: float, modulation: str, downlink_bps: float, uplink_bps: float) -> "ChannelReport":
        """A channel whose BER follows from the per-symbol SNR (dB) and modulation over AWGN."""
        snr = check_range("snr_db", snr_db, -200.0, 200.0)
        return cls(downlink_bps, uplink_bps, ber_from_snr(snr, modulation), snr, modulation)


@dataclass(frozen=True)
class DSI:
    """Device situation information: hardware, location (None if not reported), application and channel."""
    hardware: Hardware
    location: Location | None
    application: Application
    channel: ChannelReport

    def __post_init__(self):
        for name, kind in (("hardware", Hardware), ("application", Application), ("channel", ChannelReport)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise ValueError(f"{name}={value!r} must be a {kind.__name__}")
        if self.location is not None and not isinstance(self.location, Location):
            raise ValueError(f"location={self.location!r} must be a Location or None")


def dsi_from_presets(hardware: str = "smartphone", application: str = "image recognition", *,
                     downlink_bps: float = 1e9, uplink_bps: float | None = None, ber: float = 0.0,
                     snr_db: float | None = None, modulation: str = "QPSK", location: Location | None = None,
                     min_accuracy: float = 0.0, samples_per_task: int = 1) -> DSI:
    """A DSI from a hardware preset and an application preset; with ``snr_db`` the BER follows from it instead of ``ber``.

    Defaults: downlink at the paper's 6G user-experienced rate (1 Gb/s); uplink half of it, the down/up ratio of
    the IMT-2020 user-experienced targets (ITU-R M.2410: 100 and 50 Mb/s), since no 6G uplink figure is given.
    """
    check_choice("hardware", hardware, HARDWARE_PRESETS)
    check_choice("application", application, APPLICATIONS)
    down = check_range("downlink_bps", downlink_bps, 0.0, lo_open=True)
    up = down / 2 if uplink_bps is None else uplink_bps
    if snr_db is None:
        channel = ChannelReport(down, up, ber)
    else:
        channel = ChannelReport.from_snr(snr_db, modulation, down, up)
    app = Application(application, APPLICATIONS[application].latency_s, min_accuracy, samples_per_task)
    return DSI(HARDWARE_PRESETS[hardware], location, app, channel)
