"""Section "Noticing the mismatch" of the Predictive downloads page: on the same simulated users, how soon a device
notices from its own photos that the model it holds no longer fits the place, against location prediction and the
oracle. The page calls ``render(result, ...)`` with its mobility run; everything comes through app.services."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app import present, units
from app.charts.mobility import mismatch_bar, mismatch_timeline
from app.maps import TRIGGER, context_color
from app.services import mismatch as service

DETECTOR_WORDS = {"page_hinkley": "Page-Hinkley (watches for a fall of the running mean)",
                  "adwin": "ADWIN (compares two windows of recent photos)"}


def _photos_and_seconds(photos: float, seconds: float) -> str:
    if isinstance(photos, float) and math.isnan(photos):
        return units.MISSING
    if math.isinf(photos) or math.isinf(seconds):
        return "not caught"
    return f"{photos:.0f} photos ({units.seconds(seconds)})"


def summary_table(summary: pd.DataFrame, percentile: float) -> pd.DataFrame:
    """The comparison per way, with plain headers; delays as "photos (seconds)" texts."""
    s = summary.reset_index()
    upper = f"{percentile:.0f} %"
    return pd.DataFrame({
        "way of switching models": s["label"],
        "changes of place": s["changes"],
        "right model at the change": s["fixed_at_change"],
        "caught by the detector": s["fixed_by_detector"],
        "never caught while there": s["not_fixed"],
        "detector's delay, half of its catches within": [
            _photos_and_seconds(p, t) for p, t in zip(s["detector_delay_photos_median"],
                                                      s["detector_delay_s_median"])],
        f"detector's delay, {upper} of its catches within": [
            _photos_and_seconds(p, t) for p, t in zip(s["detector_delay_photos_upper"],
                                                      s["detector_delay_s_upper"])],
        "false alarms per user and hour": s["false_triggers_per_user_hour"],
        "photos answered by a wrong model": s["wrong_model_share"],
        "answers right": s["right_answer_share"],
        "models downloaded": s["downloads"],
        "downloads wasted on wrong guesses": s["wasted_downloads"],
    })


COLUMNS = {
    "changes of place": st.column_config.NumberColumn(format="%d"),
    "right model at the change": st.column_config.NumberColumn(format="%d"),
    "caught by the detector": st.column_config.NumberColumn(format="%d"),
    "never caught while there": st.column_config.NumberColumn(format="%d"),
    "false alarms per user and hour": st.column_config.NumberColumn(format="%.3f"),
    "photos answered by a wrong model": st.column_config.NumberColumn(**units.PERCENT_COLUMN),
    "answers right": st.column_config.NumberColumn(**units.PERCENT_COLUMN),
    "models downloaded": st.column_config.NumberColumn(format="%d"),
    "downloads wasted on wrong guesses": st.column_config.NumberColumn(format="%d"),
}


def render(result, *, user: int | None = None, labels: dict | None = None, key: str = "mm") -> None:
    """Draw the section for ``result`` (the page's mobility run, with the predictive policy). ``user``: the user
    whose day the timeline shows (None: a selector); ``labels``: each situation's name in words (the area's)."""
    word = lambda c: (labels or {}).get(c, c)  # noqa: E731
    st.subheader("Noticing the mismatch")
    st.caption(
        "Each user's device takes a photo every few seconds while it needs a model (at a place, or driving) and "
        "classifies it with the situation model it holds, run whole on the device. When the user reaches a place "
        "of another situation, the held model no longer fits and is less sure of its answers. A drift detector "
        "watches how sure the model is, photo by photo, and asks the network for the model of the current place "
        "when that falls. The photos are real test photos of each situation; handwritten postcodes shown to a "
        "photo model become a grey picture of the page, and photos shown to the digit model become grey ink. "
        "Four ways of switching models are compared on the same users and the same photos.")
    kinds = service.detectors()
    c1, c2 = st.columns([2, 1])
    detector = c1.radio("Detector", list(kinds), key=f"{key}_detector", horizontal=True,
                        format_func=lambda k: DETECTOR_WORDS.get(k, kinds[k]),
                        help="Both come from the river library, with the project's settings for how sure a model "
                             "is (a number between 0 and 1).")
    interval = c2.select_slider("A photo every (s)", service.PHOTO_INTERVALS_S, value=2.0, key=f"{key}_interval",
                                help="How often the device classifies a photo while it needs a model")
    try:
        found = service.comparison(result, interval, detector)
    except ValueError as err:  # a missing situation model, or an area whose places are not situations
        st.info(f"The mismatch cannot be shown for this run: {err}")
        return
    s = found.summary
    share = s["wrong_model_share"]
    if {"prediction", "prediction_and_detector", "detector"} <= set(s.index):
        st.markdown(
            f"**With location prediction alone, {units.percent(share['prediction'])} of the photos were answered "
            f"by a model made for another place (the wrong guesses were never noticed); with the detector as a "
            f"fallback {units.percent(share['prediction_and_detector'])}, with the detector alone "
            f"{units.percent(share['detector'])}. The detector raised "
            f"{s.loc['prediction_and_detector', 'false_triggers_per_user_hour']:.2f} false alarms per user and "
            f"hour as a fallback.**")
    table = summary_table(s, found.config.percentile)
    present.table(table, "Noticing the mismatch", column_config=COLUMNS, hide_index=True, width="stretch",
                  key=f"{key}_table")
    st.caption(
        f"{found.photos:,} photos in {found.user_hours:.0f} user-hours, a photo every {interval:g} s. A change of "
        "place counts when the user needs another situation's model. Right model at the change: the way switched "
        "in time (a right guess of the prediction, or the oracle, which knows every change). Caught by the "
        "detector: the device noticed it later; the delay counts the photos answered by the old model and the "
        "seconds until the switch. Never caught: the user left before anything noticed. A false alarm asks for a "
        "new model although the held one was right (nothing is downloaded then). Download times are left out "
        "here: the tables above count them.")
    b1, b2 = st.columns(2)
    present.chart(mismatch_bar(s, "wrong_model_share", "photos answered by a wrong model", units.percent),
                  key=f"{key}_bar_wrong", where=b1, name="wrong_model_photos")
    present.chart(mismatch_bar(s, "false_triggers_per_user_hour", "false alarms per user and hour",
                               lambda v: f"{v:.2f}"), key=f"{key}_bar_false", where=b2, name="false_alarms")

    ways = service.ways()
    shown_ways = {w: ways[w] for w in s.index}
    segments = result.context_timeline
    if user is None:
        with_changes = sorted(set(found.changes["user"])) or [0]
        user = st.selectbox("User", with_changes, key=f"{key}_user", format_func=lambda u: f"user {u}")
    fig = mismatch_timeline(segments, found.held, found.triggers, int(user), shown_ways,
                            result.config.duration_s, context_color, {c: word(c) for c in result.contexts},
                            trigger_color=TRIGGER)
    present.chart(fig, key=f"{key}_timeline", name=f"mismatch_user_{user}")

    detector_ways = [w for w in s.index if w in ("detector", "prediction_and_detector")]
    if detector_ways:
        with st.expander("Where the detector fired, on the map"):
            way = st.radio("Way of switching", detector_ways, key=f"{key}_map_way", horizontal=True,
                           format_func=lambda w: ways[w])
            st.caption("The first 20 users' paths with the predictive downloads; diamonds where the detector "
                       "fired: filled when the held model was wrong for the place, hollow for a false alarm.")
            st.iframe(service.trigger_map(result, way, interval, detector), height=520)
