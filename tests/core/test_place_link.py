"""The link at a place of the area (what the location picker shows and copies into the sidebar)."""
import numpy as np
import pytest

from core.mobility.area import load_area
from core.mobility.link import LinkConfig, link_at, serving_links


@pytest.fixture(scope="module")
def area():
    return load_area()


def test_place_is_served_by_its_nearest_base_station(area):
    place = area.places[0]
    link = link_at(area, place.name)
    xy = area.to_xy(np.array([[place.lat, place.lon]]))[0]
    distances = np.hypot(*(area.bs_xy - xy).T)
    assert link.station == area.base_stations[int(np.argmin(distances))].name
    assert link.distance_m == pytest.approx(float(distances.min()), rel=1e-4)
    assert link.place == place.name and 0 < link.ber <= 0.5 and link.rate_bps > 0


def test_a_farther_place_gets_a_weaker_link(area):
    links = sorted((link_at(area, p.name) for p in area.places), key=lambda lk: lk.distance_m)
    near, far = links[0], links[-1]
    assert far.snr_db < near.snr_db and far.rate_bps <= near.rate_bps
    _, snr, rate = serving_links(area.to_xy(np.array([[area.places[0].lat, area.places[0].lon]])), area.bs_xy,
                                 LinkConfig())
    assert link_at(area, area.places[0].name).rate_bps == pytest.approx(float(rate[0]))


def test_unknown_place_is_named_and_long_names_are_cut(area):
    with pytest.raises(ValueError, match="place='Nowhere'"):
        link_at(area, "Nowhere")
    with pytest.raises(ValueError) as err:
        link_at(area, "x" * 10_000)
    assert len(str(err.value)) < 200
