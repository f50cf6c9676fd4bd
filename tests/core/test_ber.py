"""BER values: the one check, the slider's grid and snapping to it (core.link.ber)."""
import pytest

from core.link.ber import BER_EXPONENTS, BER_GRID, check_ber, on_grid, snap_ber


def test_snap_takes_the_nearest_slider_exponent():
    assert snap_ber(1e-3) == -3.0
    assert snap_ber(2e-3) == -2.5          # log10(2e-3) = -2.70: nearer -2.5 than -3.0
    assert snap_ber(0.4) == -1.0           # above the slider: its top


def test_on_grid_tells_whether_the_slider_shows_a_ber_exactly():
    assert on_grid(10 ** -4.5) and on_grid(1e-3) and on_grid(0.0)
    assert not on_grid(2e-3)               # a shared link with 0.002 must not silently become 10^-2.5


@pytest.mark.parametrize("ber", [-1e-3, 0.6, float("nan"), "x"])
def test_bad_ber_is_refused_by_name(ber):
    with pytest.raises(ValueError, match="ber="):
        check_ber(ber)


def test_zero_has_no_slider_position():
    with pytest.raises(ValueError, match="ber=0.0 has no log10 exponent"):
        snap_ber(0.0)


def test_grids_are_sorted_and_valid():
    assert list(BER_EXPONENTS) == sorted(BER_EXPONENTS) and list(BER_GRID) == sorted(BER_GRID)
    assert all(0 < check_ber(b) <= 0.5 for b in BER_GRID)
