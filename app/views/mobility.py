"""Predictive downloads page: users with routines move through an area (Hong Kong by default, or any area file
made from OpenStreetMap), need a new model at each place, and the network downloads it reactively, predictively
or with an oracle while downloads share each cell. Comparison table, predictors, base-station load, model sizes
from the AI library, offline map and per-user timelines, all from one cached run of core.mobility.simulate."""
import streamlit as st

from app import charts, present, services, units
from app.controls import set_area
from app.maps import map_html, timeline_figure
from app.settings import area_choices
from app.views import mismatch as mismatch_section

_presets = services.mobility_presets()
SCENARIOS, POLICIES = _presets["scenarios"], _presets["policies"]
MINUTES = (10, 20, 30, 60, 120, 240)
PRESET_LABELS = {"default": "default (daily routines)", "routine": "daily routines", "habits": "personal habits",
                 "no_cell_sharing": "no cell sharing", "single_accelerator": "one AI accelerator",
                 "mostly_drivers": "mostly drivers", "random_waypoint": "random waypoint (unpredictable)",
                 "fr2_400mhz": "5G FR2 at 400 MHz", "benchmark_1000": "1,000 users (benchmark)"}
PRESET_STORIES = {
    "default": "200 users with daily routines (home, work, lunch, leisure) for an hour, walking and driving on "
               "the streets; downloads share each cell; devices with two AI accelerators",
    "routine": "the same as default: users with daily routines",
    "habits": "users pick their next place from personal habits (less regular than a routine)",
    "no_cell_sharing": "as default, but every download gets its user's full rate however many share the cell",
    "single_accelerator": "as default, but each device has one AI accelerator: every switch stops the application",
    "mostly_drivers": "80 % of the users drive and need the navigation model on the road",
    "random_waypoint": "users wander between random points instead of following streets (the unpredictable "
                       "baseline)",
    "fr2_400mhz": "a 5G FR2 link with 400 MHz instead of FR1 with 20 MHz",
    "benchmark_1000": "1,000 users",
}


def _from_preset(name: str) -> dict:
    cfg = SCENARIOS[name]
    minutes = min(MINUTES, key=lambda m: abs(m * 60 - cfg.duration_s))
    return {"mob_users": cfg.n_users, "mob_minutes": minutes, "mob_acc": cfg.device.accelerators}


def _on_preset() -> None:
    st.session_state.update(_from_preset(st.session_state["mob_preset"]))


def _on_area() -> None:
    set_area(st.session_state["mob_area"])   # the area is one choice for every page: the sidebar's


# Widget values survive a visit to another page (Streamlit drops the state of widgets that are not drawn).
kept = st.session_state.setdefault("mobility_kept", {"mob_preset": "default", **_from_preset("default"),
                                                     "mob_seed": 0, "mob_policy": "predictive"})
for key, value in kept.items():
    st.session_state.setdefault(key, value)

st.title("Predictive downloads")
lead = st.empty()  # the page's result in one sentence, filled once the simulation has run
present.report_button("Predictive downloads", services.settings())
areas = services.area_files()          # display name -> (file, modification time)
area_names = area_choices()            # key -> display name, the same files
current = services.settings().area
st.session_state["mob_area"] = current if current in area_names else next(iter(area_names))
flags = st.session_state.get("view_flags")
area_key = st.selectbox("Area", list(area_names), key="mob_area", format_func=lambda k: area_names.get(k, k),
                        on_change=_on_area, disabled=flags is not None and "area" in flags.lock + flags.hide,
                        help="The same choice as the sidebar's Area. Area files in assets/area/ or $INSITU_AREAS; "
                             "make one from an OpenStreetMap extract with python -m core.mobility.osm town.osm "
                             "--out assets/area/town.json")
area_path, area_stamp = areas[area_names[area_key]]
try:
    area = services.area_at(area_path)
except ValueError as err:  # a damaged area file is reported by name; the page stays up
    st.error(f"The area file {units.path(area_path)} cannot be used: {err}")
    st.stop()
st.caption(f"Simulated users walk and drive between the places of {area.name}. Each place needs its own model "
           "(tour guide, navigation, ...). Reactive downloads start when the need arises, predictive ones when "
           "the network predicts the next place from the user's past visits, the oracle knows the future (a "
           "bound). Downloads in one cell share its capacity. Paper Sec. 3 and 5.")

c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])
preset = c1.selectbox("Scenario preset", list(SCENARIOS), key="mob_preset", on_change=_on_preset,
                      format_func=lambda k: PRESET_LABELS.get(k, k.replace("_", " ")),
                      help="Sets users, duration and accelerators")
users = c2.number_input("Users", min_value=10, max_value=2000, step=10, key="mob_users")
minutes = c3.select_slider("Duration (min)", MINUTES, key="mob_minutes")
accelerators = c4.radio("AI accelerators", (1, 2), key="mob_acc", horizontal=True,
                        help="Two: a new model loads into the spare accelerator while the old one runs (Fig. 2)")
seed = c5.number_input("Seed", min_value=0, max_value=10_000, step=1, key="mob_seed")
kept.update({k: st.session_state[k] for k in kept})
c1.caption(PRESET_STORIES.get(preset, ""))
if users * minutes > 200 * 120:
    st.warning(f"{users} users for {minutes} min takes a while to simulate (tens of seconds on a laptop). Change "
               "a control to cancel.")

try:  # each place's situation decides the model: its situation model's own AI library gives the sizes
    sizes = services.mobility_sizes(area_path, area_stamp)
except ValueError as err:
    st.error(f"Model sizes for this area cannot be chosen: {err}")
    st.stop()
args = (preset, int(users), float(minutes * 60), int(accelerators), int(seed))
extra = (area_path, sizes.models, area_stamp)
try:
    result = services.simulation(*args, *extra)
except ValueError as err:  # a combination the simulator rejects explains itself instead of a traceback
    st.error(f"This combination cannot be simulated: {err}")
    st.stop()

overall = result.overall
if {"reactive", "predictive"} <= set(overall.index):
    r, p = overall.loc["reactive"], overall.loc["predictive"]
    waits = [units.wait(x["interruption_s_per_user"]) for x in (r, p)]  # as the policy cards below show them
    lead.markdown(f"**Prefetching cuts the time users wait for their model from {waits[0]} to {waits[1]} per "
                  f"user over {minutes} min, for "
                  f"{units.percent(p['wasted_share'])} of the bits sent wasted on wrong guesses and "
                  f"{p['peak_bs_load_Mbps'] / max(r['peak_bs_load_Mbps'], 1e-9):.2f} times the reactive peak load "
                  f"of a base station ({int(users)} users, {area.name}).**")
st.subheader("Policy comparison")
cols = st.columns(len(overall))
for col, (policy, row) in zip(cols, overall.iterrows()):
    col.metric(f"{policy}: interruption per user", units.wait(row["interruption_s_per_user"]),
               help="Seconds per user that the application waited for its model")
# Columns both tables show, with the same words and formats.
SHARED_COLUMNS = {
    "interruption_s_per_user": st.column_config.NumberColumn("interruption per user (s)", format="%.2f"),
    "on_time_share": st.column_config.NumberColumn("on time", **units.PERCENT_COLUMN),
    "peak_bs_load_Mbps": st.column_config.NumberColumn("peak BS load (Mb/s)", format="%.1f"),
}
table = overall.reset_index()[["policy", "users", "switches", "interruption_s_per_user", "on_time_share",
                               "next_place_accuracy", "wasted_Mbit", "wasted_share", "after_window_Mbit",
                               "peak_bs_load_Mbps", "mean_bs_load_Mbps", "sharing_delay_s_per_switch",
                               "predicted_share", "downloaded_Mbit"]]
st.dataframe(table, hide_index=True, width="stretch", key="policy_table", placeholder=units.MISSING,
             column_config={**SHARED_COLUMNS, "users": st.column_config.NumberColumn("users", format="%d"),
                            "switches": st.column_config.NumberColumn("model switches", format="%d"),
                            "next_place_accuracy": st.column_config.NumberColumn("next place right",
                                                                                 **units.PERCENT_COLUMN),
                            "wasted_Mbit": st.column_config.NumberColumn("wasted (Mbit)", format="%.0f"),
                            "wasted_share": st.column_config.NumberColumn("wasted share of bits sent",
                                                                          **units.PERCENT_COLUMN),
                            "after_window_Mbit": st.column_config.NumberColumn(
                                "prefetched for after the window (Mbit)", format="%.0f"),
                            "mean_bs_load_Mbps": st.column_config.NumberColumn("mean BS load (Mb/s)", format="%.2f"),
                            "sharing_delay_s_per_switch": st.column_config.NumberColumn(
                                "delay from sharing the cell (s per switch)", format="%.2f"),
                            "predicted_share": st.column_config.NumberColumn("predicted", **units.PERCENT_COLUMN),
                            "downloaded_Mbit": st.column_config.NumberColumn("downloaded (Mbit)", format="%.0f")})
present.remember("policy_table", "table", "Policy comparison", table)
st.caption(f"{result.config.n_users} users, {result.config.duration_s / 60:g} min, {accelerators} accelerator(s), "
           f"seed {seed}, area: {result.area_name}. Switches: model changes the users needed. Wasted: bits of "
           "wrongly predicted models (prefetches for needs after the simulated window are counted apart). "
           "Peak load: the largest one-minute mean download rate at one base station. Delay from sharing: how "
           "much longer each needed download took because other downloads shared its cell (processor sharing: "
           "each of N downloads gets 1/N of the airtime).")
if {"reactive", "predictive"} <= set(overall.index):
    delay = overall["sharing_delay_s_per_switch"]
    slower = delay["predictive"] - delay["reactive"]
    peak = overall.loc["predictive", "peak_bs_load_Mbps"] / max(overall.loc["reactive", "peak_bs_load_Mbps"], 1e-9)
    st.markdown(f"**Load under sharing.** With prefetching the busiest base station's peak load is "
                f"{peak:.2f} times that of reactive downloads. "
                + (f"Sharing the cell delays each needed download by the same {delay['predictive']:.2f} s per switch "
                   "with and without prefetching (they differ by less than 0.01 s): here prefetches cause no "
                   "measurable delay to other users." if abs(slower) < 0.005 else
                   f"Each needed download takes {slower:.2f} s longer because of the downloads sharing its cell "
                   f"({delay['predictive']:.2f} s against {delay['reactive']:.2f} s per switch): the delay that "
                   "prefetches cause to other users." if slower >= 0 else
                   f"Yet each needed download waits less for its cell ({delay['predictive']:.2f} s against "
                   f"{delay['reactive']:.2f} s per switch): prefetches start earlier and spread over time, so here "
                   "they cause no extra delay to other users on average."))

st.subheader("Next-place predictors")
pred_table = result.predictors[["label", "trips", "next_place_accuracy", "next_place_accuracy_route",
                                "on_time_share", "interruption_s_per_user", "wasted_share", "peak_bs_load_Mbps"]]
st.dataframe(pred_table, hide_index=True, width="stretch", key="predictor_table", placeholder=units.MISSING,
             column_config={**SHARED_COLUMNS, "label": "predictor",
                            "trips": st.column_config.NumberColumn("trips judged", format="%d"),
                            "next_place_accuracy": st.column_config.NumberColumn("next place right at departure",
                                                                                 **units.PERCENT_COLUMN),
                            "next_place_accuracy_route": st.column_config.NumberColumn(
                                "next place right after the route", **units.PERCENT_COLUMN),
                            "wasted_share": st.column_config.NumberColumn("wasted share", **units.PERCENT_COLUMN)})
present.remember("predictor_table", "table", "Next-place predictors", pred_table)
st.caption("Each predictor drives the predictive policy on the same users. Learned from each user's past visits; "
           "users without history (10 %) get the crowd's habits. The route refines the guess as the user walks. "
           "For comparison, published order-2 Markov predictors reach about 72 % next-cell accuracy on real "
           "Wi-Fi users (Dartmouth) and 70-95 % next place in other studies.")

st.subheader("The model each place needs")
DEVICE_CLASS_LABELS = {"walk": "walking (phone)", "drive": "driving (car)"}
size_table = sizes.rows[["device_class", "hardware", "context", "application", "model", "bits", "accuracy",
                         "tier", "source"]].assign(bits=lambda d: d["bits"] / 1e6,
                                                   accuracy=lambda d: 100 * d["accuracy"]).rename(
    columns={"bits": "Mbit"})
# The application is the preset whose latency budget the context's model gets: shown as that budget and where it
# comes from.
size_table = size_table.assign(device_class=size_table["device_class"].map(lambda d: DEVICE_CLASS_LABELS.get(d, d)),
                               context=size_table["context"].map(lambda c: area.context_labels.get(c, c)),
                               application=size_table["application"].map(
                                   lambda a: f"{units.seconds(services.APPLICATIONS[a].latency_s)} ({a} preset)"
                                   if a in services.APPLICATIONS else a))
if sizes.from_library:
    st.caption(f"Each place's situation decides the model: {sizes.note}. A situation model is the root model "
               "customised to the classes a device sees there (its own card is on the Sub-models page); each "
               "size is the sub-model of that situation model that the selection rule picks (the smallest that "
               "meets every requirement) for the place's latency budget and the device (walkers carry a "
               "smartphone, drivers use the car's computer). Accuracy is on that situation's own test photos "
               "without bit errors.")
else:
    st.info(f"No situation model's AI library is available, so the sizes come from the named fallback table of "
            f"model presets (each with its source): {sizes.note}")
st.dataframe(size_table, hide_index=True, width="stretch", key="size_table", placeholder=units.MISSING,
             column_config={"device_class": "user", "hardware": "device", "context": "model needed (situation)",
                            "application": "latency budget (from the preset)", "model": "sub-model chosen",
                            "Mbit": st.column_config.NumberColumn("size (Mbit)", format="%.2f"),
                            "accuracy": st.column_config.NumberColumn("accuracy on its photos", format="%.1f %%"),
                            "tier": "library tier", "source": "where the size comes from"})

present.remember("size_table", "table", "Model sizes", size_table)
models_at = services.place_models(sizes)
place_names = [p.name for p in area.places]
chosen = st.selectbox("A place and its model", place_names, key="mob_place_model",
                      help="Also on the map: click a place's circle")
place = area.places[place_names.index(chosen)]
said = dict(models_at).get(place.context, "")
st.markdown(f"**{place.name}** needs the **{area.context_labels.get(place.context, place.context)}** model. "
            + (f"Downloads: {said}." if said else "No model of this project fits it."))
if services.is_situation(place.context) and st.button(f"See the {place.context} model on the Sub-models page",
                                                      key="mob_open_situation"):
    st.session_state["situation"] = place.context
    st.switch_page("views/submodels.py")
d1, d2, d3 = st.columns(3)
d1.download_button("Policy table (CSV)", table.to_csv(index=False), "policies.csv", "text/csv", on_click="ignore",
                   key="dl_policies")
d2.download_button("Per-user results (CSV)", lambda: result.users.to_csv(index=False), "users.csv", "text/csv",
                   on_click="ignore", key="dl_users")
d3.download_button("Every model switch (CSV)", lambda: result.events.to_csv(index=False), "switches.csv",
                   "text/csv", on_click="ignore", key="dl_events")

b1, b2 = st.columns(2)
present.chart(charts.policy_bar(overall, "interruption_s_per_user"), key="bar_interruption", where=b1)
present.chart(charts.policy_bar(overall, "wasted_Mbit"), key="bar_waste", where=b2)
load_fig = charts.load_figure(result.load, names={b.id: b.name for b in area.base_stations})
present.chart(load_fig, key="load_chart", name="base_station_load")
l1, l2 = st.columns(2)
l1.download_button("Load chart (HTML)", lambda: charts.figure_html(load_fig), "bs_load.html", "text/html",
                   on_click="ignore", key="dl_load_html")
l2.download_button("Load per base station (CSV)", lambda: result.load.to_csv(index=False), "bs_load.csv",
                   "text/csv", on_click="ignore", key="dl_load_csv")

st.subheader("Map")
policy = st.radio("Downloads shown on the map", POLICIES, key="mob_policy", horizontal=True)
kept["mob_policy"] = policy
st.caption(f"{area.name}: the first 20 users' paths; circles: where each download started (ring) and finished "
           "(dot), green on time, red late. Press play on the map to watch them move. "
           + (f"Land and sea come from the area's coastline file (`{area.coastline.get('file', '')}`), "
              if area.coastline else "This area file has no coastline, so land and sea are not drawn; ")
           + "streets from the area data, so the map needs no internet.")
# st.iframe replaces the deprecated components.v1.html; the HTML is ours and loads Leaflet from /app/static only.
st.iframe(services.mobility_map(*args, policy, 20, False, *extra, place_models=models_at), height=560)
present.remember("map", "html", "Map", lambda: map_html(result, policy=policy, inline_assets=True,
                                                        place_models=dict(models_at)))
st.download_button("Map (HTML, opens offline)", lambda: map_html(result, policy=policy, inline_assets=True,
                                                                 place_models=dict(models_at)),
                   "predictive_downloads_map.html", "text/html", on_click="ignore", key="dl_map")

st.subheader("One user's day")
users_df = result.users[result.users["policy"] == result.config.policies[0]].set_index("user")
with_switches = [int(u) for u in users_df.index if users_df.loc[u, "switches"] > 0]
choices = with_switches or [0]
default_user = next((u for u in choices if u < 20), choices[0])  # one of the users drawn on the map
user = st.selectbox("User", choices, index=choices.index(default_user), key="mob_user",
                    format_func=lambda u: f"user {u} ({users_df.loc[u, 'mode']}, {users_df.loc[u, 'switches']} "
                                          "model switches)" + (" — on the map" if u < 20 else ""))
present.chart(timeline_figure(result, user, labels=area.context_labels), key="timeline_chart", name=f"timeline_user_{user}")
mismatch_section.render(result, user=user, labels=area.context_labels)
present.words("predictive downloading", "accelerator", "interruption", "sub-model", "AI library", "tier", "exit",
              "situation")
