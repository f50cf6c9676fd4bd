"""AppTest of the section "Noticing the mismatch" (app/views/mismatch.py) on a small mobility run: the four ways
compared in a table with plain headers, the oracle never answers with a wrong model, and the per-user timeline and
the map with the detector's triggers are drawn."""
from streamlit.testing.v1 import AppTest


def _section():
    from app import services
    from app.services import mismatch as service
    from app.views import mismatch

    from core.situation.mismatch import SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED

    # the shipped pools file's settings: read in a second or two, not measured
    assert (service.POOL_PHOTOS, service.POOL_SEED) == (SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED)
    result = services.simulation("routine", 20, 900.0, 2, 0)
    mismatch.render(result, user=None)


def test_the_section_compares_the_four_ways():
    at = AppTest.from_function(_section, default_timeout=600).run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == ["Noticing the mismatch"]
    table = next(d.value for d in at.dataframe if "way of switching models" in d.value.columns)
    assert list(table["way of switching models"]) == ["location prediction alone", "the detector alone",
                                                      "prediction, the detector as fallback",
                                                      "oracle (switches at every change)"]
    oracle = table.iloc[-1]
    assert oracle["photos answered by a wrong model"] == 0 and oracle["never caught while there"] == 0
    assert not any("_" in c for c in table.columns)
    assert len(at.get("plotly_chart")) == 3 and at.get("iframe")
    at.radio(key="mm_detector").set_value("adwin").run()
    assert not at.exception, at.exception


def test_the_sections_words_are_plain():
    """No code names (snake_case) and no scientific notation in what the section shows."""
    import re

    at = AppTest.from_function(_section, default_timeout=600).run()
    shown = [str(x.value) for x in (*at.markdown, *at.caption, *at.subheader)]
    shown += [str(c) for d in at.dataframe for c in d.value.columns] + [r.label for r in at.radio]
    shown += [str(o) for r in at.radio for o in r.options]
    snake = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
    scientific = re.compile(r"\b\d+(?:\.\d+)?e[+-]?\d+\b", re.I)
    assert not [t for t in shown if snake.search(t) or scientific.search(t)]


def _run():
    from core.mobility.simulate import scenario, simulate

    return simulate(scenario("routine", n_users=6, duration_s=600.0, track_users=6), 0)


def test_the_map_marks_true_and_false_triggers_apart():
    import pandas as pd

    from app.maps import TRIGGER_LAYER, map_html, trigger_symbol

    run = _run()
    triggers = pd.DataFrame({"user": [0, 1, 5], "time_s": [100.0, 200.0, 300.0], "held": ["road", "park", "home"],
                             "place": ["park", "park", "road"], "true": [True, False, True]})
    html = map_html(run, sample_users=6, triggers=triggers)
    assert TRIGGER_LAYER in html and html.count("mobility-trigger") >= 3
    assert trigger_symbol(True) != trigger_symbol(False)
    assert "detector fired: the model held was wrong" in html and "false alarm" in html
    assert TRIGGER_LAYER not in map_html(run, sample_users=6)          # no triggers given: no layer, no legend


def test_the_timeline_shows_each_ways_model_and_its_triggers():
    import pandas as pd

    from app.charts.mobility import mismatch_timeline
    from app.maps import context_color

    segments = pd.DataFrame({"user": [0, 0], "start_s": [0.0, 300.0], "end_s": [300.0, 600.0],
                             "context": ["road", "park"]})
    held = pd.DataFrame({"way": ["detector", "detector", "oracle", "oracle"], "user": 0,
                         "time_s": [0.0, 350.0, 0.0, 300.0], "model": ["road", "park", "road", "park"]})
    triggers = pd.DataFrame({"way": ["detector", "detector"], "user": 0, "time_s": [120.0, 350.0],
                             "held": ["road", "road"], "place": ["road", "park"], "true": [False, True]})
    fig = mismatch_timeline(segments, held, triggers, 0, {"detector": "the detector alone", "oracle": "oracle"}, 600.0,
                            context_color)
    symbols = {t.marker.symbol for t in fig.data if t.type == "scatter"}
    assert symbols == {"diamond", "diamond-open"}
    assert set(fig.layout.yaxis.categoryarray) == {"where the user is", "the detector alone: model held",
                                                   "oracle: model held"}
    assert {t.name for t in fig.data if t.type == "bar"} == {"road", "park"}
    assert context_color("harbour and airfield") != context_color("a place nobody knows")
