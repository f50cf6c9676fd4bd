"""Numbers as a student reads them: human units (ms, Mbit, Gb/s), percentages, points and BERs without
scientific notation on the page. Pure Python: charts, pages and exports all format through here."""
from __future__ import annotations

import math

from core.validation import check_range

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _finite(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number") from None
    if math.isnan(value):
        raise ValueError(f"{name}={value!r} must be a number, not NaN")
    return value


def _sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures, never in e-notation (1.59e+04 -> '15,900')."""
    if x == 0:
        return "0"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{round(x, decimals):,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def number(x, digits: int = 3) -> str:
    """A plain number with thousands separators and ``digits`` significant figures (no '1e-05')."""
    return _sig(_finite("x", x), digits)


def _scaled(value: float, units: tuple[tuple[str, float], ...], digits: int) -> str:
    for unit, scale in units:
        if abs(value) >= scale:
            return f"{_sig(value / scale, digits)} {unit}"
    unit, scale = units[-1]
    return f"{_sig(value / scale, digits)} {unit}"


def seconds(s, digits: int = 3) -> str:
    """Seconds in the most readable unit (0.0042 -> '4.2 ms', 1e-6 -> '1 µs', 4000 -> '66.7 min')."""
    s = _finite("s", s)
    if s == 0:
        return "0 s"
    if s >= 3600:
        return f"{_sig(s / 3600, digits)} h"
    if s >= 60:
        return f"{_sig(s / 60, digits)} min"
    return _scaled(s, (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)), digits)


def rate(bps, digits: int = 3) -> str:
    """A data rate in bit/s units (1.1e9 -> '1.1 Gb/s')."""
    bps = _finite("bps", bps)
    if bps == 0:
        return "0 b/s"
    return _scaled(bps, (("Tb/s", 1e12), ("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3), ("b/s", 1.0)), digits)


def bits(n, digits: int = 3) -> str:
    """A number of bits (1.59e10 -> '15.9 Gbit', 3.2e6 -> '3.2 Mbit')."""
    n = _finite("n", n)
    if n == 0:
        return "0 bit"
    return _scaled(n, (("Tbit", 1e12), ("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)), digits)


def size_bytes(n, digits: int = 3) -> str:
    """A memory size in bytes (2.56e5 -> '256 kB')."""
    n = _finite("n", n)
    if n == 0:
        return "0 B"
    return _scaled(n, (("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0)), digits)


def count(n) -> str:
    """A count of things: '11,172,810'; from ten million on '12.3 million' (a projector's width)."""
    n = _finite("n", n)
    if abs(n) >= 1e9:
        return f"{_sig(n / 1e9)} billion"
    if abs(n) >= 1e7:
        return f"{_sig(n / 1e6)} million"
    return f"{n:,.0f}" if float(n).is_integer() else _sig(n)


def percent(share, decimals: int = 1) -> str:
    """A share 0..1 as a percentage ('81.8 %')."""
    share = _finite("share", share)
    return f"{share * 100:.{decimals}f} %"


# A table's cell without a value (a policy that predicts nothing has no prediction accuracy): a dash, never "None".
MISSING = "—"

# A share in a table (st.column_config.NumberColumn(..., **PERCENT_COLUMN)): shown as a percentage with the one
# decimal that ``percent`` gives in the text ("86.2%"), never 86.21% beside 86.2 % (the step sets the decimals).
PERCENT_COLUMN = {"format": "percent", "step": 0.001}


def interval(lo, hi, decimals: int = 1) -> str:
    """A 95 % interval of a share: '27.2 % – 29.1 %'."""
    return f"{percent(lo, decimals)} – {percent(hi, decimals)}"


def plus_minus(half_width, decimals: int = 1) -> str:
    """The half-width of an interval of a share, in percentage points: '± 0.8 points'."""
    return f"± {_finite('half_width', half_width) * 100:.{decimals}f} points"


def change(delta, half_width, decimals: int = 1) -> str:
    """A change of a share with the half-width of its 95 % interval: '-4.1 ± 0.8 points'."""
    delta = _finite("delta", delta) * 100
    return f"{0.0 if round(delta, decimals) == 0 else delta:+.{decimals}f} {plus_minus(half_width, decimals)}"


def wait(s) -> str:
    """Seconds a user waits for a model (interruption per user), always to the hundredth as the tables show them:
    '3.06 s', '0.44 s', '12.35 s'."""
    return f"{_finite('s', s):.2f} s"


def points(delta, decimals: int = 1) -> str:
    """A change of a share in percentage points ('+2.3 points'); a change that rounds to zero says so."""
    delta = _finite("delta", delta) * 100
    if round(delta, decimals) == 0:
        return "no change"
    return f"{delta:+.{decimals}f} points"


def loss_against_clean(accuracy, clean, lo, hi, chance: float | None = None) -> str:
    """An accuracy under errors in words against the same model's clean accuracy (BER 0), with the 95 % interval
    of the change: 'no measurable loss against 86.2 % clean (change -1.3 to +0.9 points)' when the interval holds
    0, else '-4.1 points against 86.2 % clean (-6.0 to -2.2)'; below chance it says the model is ruined."""
    accuracy, clean = _finite("accuracy", accuracy), _finite("clean", clean)
    lo, hi = _finite("lo", lo) - clean, _finite("hi", hi) - clean
    span = f"{lo * 100:+.1f} to {hi * 100:+.1f} points"
    if lo <= 0 <= hi:
        text = f"no measurable loss against {percent(clean)} clean (change {span})"
    elif hi < 0:
        text = f"{points(accuracy - clean)} against {percent(clean)} clean ({span})"
    else:  # above clean beyond the interval: the sampled images, not the errors
        text = f"{points(accuracy - clean)} against {percent(clean)} clean ({span}): the sampled images' luck"
    if chance is not None and accuracy < chance:
        text += f"; below chance ({percent(chance, 0)}): a ruined model that answers mostly one class"
    return text


def loss_short(accuracy, clean, lo, hi) -> str:
    """The change from clean in a few words, for a metric's second line: 'no measurable loss' when the 95 %
    interval of the change holds 0, else '-4.1 points vs clean'."""
    accuracy, clean = _finite("accuracy", accuracy), _finite("clean", clean)
    if _finite("lo", lo) <= clean <= _finite("hi", hi):
        return "no measurable loss"
    return f"{points(accuracy - clean)} vs clean"


RUINED = "ruined (below halfway between chance and the accuracy without errors)"


def one_in(share) -> str:
    """A share of downloads in words a room reads at once: 'about 1 in 4', 'about 7 in 10', 'none', 'all'."""
    share = _finite("share", share)
    if share <= 0:
        return "none"
    if share >= 1:
        return "all"
    if share < 0.5:
        return f"about 1 in {max(2, round(1 / share)):,}"
    return f"about {max(5, min(9, round(share * 10)))} in 10"


def ruin_words(share, lo, hi, ruined: int = -1, downloads: int = 0) -> str:
    """The risk of a ruined download beside a mean accuracy: 'about 1 download in 4 is ruined (3 of 12 measured;
    95 % interval 9.0 to 53.0 %)', or for none seen 'no download of 12 was ruined (up to 24.2 % cannot be ruled
    out)'; with no counts (a BER between measured points) the interpolated share and interval."""
    share, lo, hi = _finite("share", share), _finite("lo", lo), _finite("hi", hi)
    if downloads > 0 and ruined >= 0:
        if ruined == 0:
            return f"no download of {downloads:,} was ruined (up to {percent(hi)} cannot be ruled out)"
        if ruined == downloads:
            return f"all {downloads:,} downloads were ruined (95 % interval {interval(lo, hi)})"
        words = one_in(ruined / downloads)
        return (f"{words} downloads {'is' if words.startswith('about 1 in') else 'are'} ruined ({ruined:,} of "
                f"{downloads:,} measured; 95 % interval {interval(lo, hi)})")
    if share <= 0 and hi <= 0:
        return "no ruined downloads"
    return f"{percent(share)} of downloads ruined (interpolated; 95 % interval {interval(lo, hi)})"


def count_range(values) -> str:
    """Whole numbers as '3' when all equal, else '3 to 5'."""
    lo, hi = int(min(values)), int(max(values))
    return f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"


def power_of_ten(x: float) -> str:
    """A positive number as 'm × 10ⁿ' with superscripts, or '10ⁿ' for an exact power (1e-3 -> '10⁻³')."""
    x = _finite("x", x)
    if x <= 0:
        raise ValueError(f"x={x!r} must be positive")
    exponent = math.floor(math.log10(x) + 1e-9)
    mantissa = x / 10 ** exponent
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    if math.isclose(mantissa, 1.0, rel_tol=1e-6):
        return power
    return f"{_sig(mantissa, 2)} × {power}"


def ber(p) -> str:
    """A bit-error rate as read aloud: '10⁻³ (1 bit in 1,000)', '0 (error-free)'."""
    p = check_range("ber", _finite("ber", p), 0.0, 0.5)
    if p == 0:
        return "0 (error-free)"
    return f"{power_of_ten(p)} (1 bit in {_sig(1 / p, 2)})"


def ber_short(p) -> str:
    """A bit-error rate for a tick or a legend: '10⁻³'."""
    p = check_range("ber", _finite("ber", p), 0.0, 0.5)
    return "0" if p == 0 else power_of_ten(p)


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick positions and labels for a log axis: every power of ten from ``lo`` to ``hi``, labelled '10⁻⁷'."""
    lo, hi = _finite("lo", lo), _finite("hi", hi)
    if not 0 < lo < hi:
        raise ValueError(f"lo={lo!r}, hi={hi!r}: need 0 < lo < hi")
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    values = [10.0 ** e for e in range(first, last + 1)]
    return values, [power_of_ten(v) for v in values]


def progress_text(what: str, done: int, total: int, elapsed_s: float) -> str:
    """'Making sub-models: 15 of 36, about 2 min left' (the estimate from the pace so far)."""
    if total <= 0 or done < 0:
        raise ValueError(f"done={done!r}, total={total!r}: need 0 <= done and total > 0")
    text = f"{what}: {done} of {total}"
    if 0 < done < total:
        text += f", about {seconds(elapsed_s / done * (total - done), 2)} left"
    return text


# ----- table headers in words (no code names on the page) -----
# Column names used by the engine's tables -> what a student reads, with the unit.
HEADERS = {
    "total_bits": "download (bit)", "memory_bytes": "device memory (bytes)", "latency_s": "time to answer (s)",
    "memory_limit_bytes": "memory for models (bytes)", "latency_budget_s": "latency budget (s)",
    "download_s": "download (s)", "compute_s": "device compute (s)", "uplink_s": "uplink (s)",
    "server_s": "server (s)", "total_s": "total (s)", "binding": "binding constraint",
    "size_pct_of_root": "size (% of root)", "size_pct": "size (% of root)", "ci95_low": "95 % interval from",
    "ci95_high": "95 % interval to", "mean_flips": "flipped bits per download", "ber": "bit-error rate",
    "mean": "accuracy", "clean": "accuracy without errors", "max_precision_bits": "most bits the device computes",
    "accuracy_source": "accuracy measured how", "low_bps": "from (bit/s)", "high_bps": "to (bit/s)",
    "access_s": "access latency (s)", "holds": "holds", "within_budget": "within budget",
    "interruption_s_per_user": "interruption per user (s)", "on_time_share": "on time (share)",
    "next_place_accuracy": "next place right (share)", "wasted_Mbit": "wasted (Mbit)",
    "max_fraction": "largest share that fits", "root_Mbit": "root (Mbit)", "max_Mbit": "largest sub-model (Mbit)",
    "full_model_Gbps": "whole model needs (Gb/s)", "device_class": "device class", "key": "library key",
    "nonzero_parameters": "non-zero weights", "effective_macs": "multiply-adds (pruned skipped)",
    "device_memory_bytes": "device memory (bytes)", "split_accuracy": "accuracy with server",
    "generation_seconds": "time to make (s)", "entry_id": "entry", "id": "entry",
}
_SUFFIXES = (("_s_per_user", " per user (s)"), ("_s_per_switch", " per switch (s)"), ("_bits", " (bit)"),
             ("_bps", " (bit/s)"), ("_Mbps", " (Mb/s)"), ("_Gbps", " (Gb/s)"), ("_Mbit", " (Mbit)"),
             ("_bytes", " (bytes)"), ("_pct", " (%)"), ("_ms", " (ms)"), ("_s", " (s)"))


def header(name) -> str:
    """A column name in words: a known engine name from HEADERS, else its unit suffix spelled out and underscores
    read as spaces ('peak_bs_load_Mbps' -> 'peak bs load (Mb/s)')."""
    name = str(name)
    if name in HEADERS:
        return HEADERS[name]
    for suffix, words in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)].replace("_", " ") + words
    return name.replace("_", " ")


def plain_table(df):
    """A copy of a table for the screen or a report: headers in words, BERs as powers of ten (no '1e-05')."""
    shown = df.copy()
    for col in shown.columns:
        if str(col) == "ber" and shown[col].dtype.kind == "f":
            shown[col] = [ber_short(v) if v == v else "" for v in shown[col]]
    return shown.rename(columns={c: header(c) for c in shown.columns})


def path(where) -> str:
    """A file or folder as a page shows it: relative to the project when inside it; else the environment variable
    that names it ($INSITU_LIBRARY, $INSITU_MODELS, $INSITU_AREAS) or just its name, never the server's absolute
    path."""
    import os
    from pathlib import Path

    project = Path(__file__).resolve().parents[1]
    where = Path(where)
    try:
        return str(where.resolve().relative_to(project))
    except (ValueError, OSError):
        pass
    for name in ("INSITU_LIBRARY", "INSITU_MODELS", "INSITU_AREAS"):
        value = os.environ.get(name)
        if not value:
            continue
        try:
            rest = where.resolve().relative_to(Path(value).resolve())
        except (ValueError, OSError):
            continue
        return f"${name}" + ("" if str(rest) == "." else f"/{rest}")
    return where.name
