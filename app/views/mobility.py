"""Predictive downloads page: users move through the area, need a new model at each place, and the network
downloads it reactively, predictively or with an oracle. Comparison table, base-station load, offline map and
per-user timelines, all from one cached run of core.mobility.simulate."""
import streamlit as st

from app import charts, services
from app.maps import map_html, timeline_figure
from core.mobility.policies import POLICIES
from core.mobility.simulate import SCENARIOS

MINUTES = (10, 20, 30, 60, 120, 240)
PRESET_STORIES = {
    "default": "200 users for an hour, walking and driving on the streets, devices with two AI accelerators",
    "single_accelerator": "as default, but each device has one AI accelerator: every switch stops the application",
    "mostly_drivers": "80 % of the users drive and need the navigation model on the road",
    "random_waypoint": "users wander between random points instead of following streets (harder to predict)",
    "fr2_400mhz": "a 5G FR2 link with 400 MHz instead of FR1 with 20 MHz",
    "benchmark_1000": "1,000 users",
}


def _from_preset(name: str) -> dict:
    cfg = SCENARIOS[name]
    minutes = min(MINUTES, key=lambda m: abs(m * 60 - cfg.duration_s))
    return {"mob_users": cfg.n_users, "mob_minutes": minutes, "mob_acc": cfg.device.accelerators}


def _on_preset() -> None:
    st.session_state.update(_from_preset(st.session_state["mob_preset"]))


# Widget values survive a visit to another page (Streamlit drops the state of widgets that are not drawn).
kept = st.session_state.setdefault("mobility_kept", {"mob_preset": "default", **_from_preset("default"),
                                                     "mob_seed": 0, "mob_policy": "predictive"})
for key, value in kept.items():
    st.session_state.setdefault(key, value)

st.title("Predictive downloads")
st.caption("Simulated users walk and drive between places in Central, Hong Kong. Each place needs its own model "
           "(tour guide, navigation, ...). Reactive downloads start when the need arises, predictive ones when "
           "the network predicts the next place, the oracle knows the future (a bound). Paper Sec. 3 and 5.")

c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])
preset = c1.selectbox("Scenario preset", list(SCENARIOS), key="mob_preset", on_change=_on_preset,
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

args = (preset, int(users), float(minutes * 60), int(accelerators), int(seed))
try:
    result = services.simulation(*args)
except ValueError as err:  # a combination the simulator rejects explains itself instead of a traceback
    st.error(f"This combination cannot be simulated: {err}")
    st.stop()

overall = result.overall
st.subheader("Policy comparison")
cols = st.columns(len(overall))
for col, (policy, row) in zip(cols, overall.iterrows()):
    col.metric(f"{policy}: interruption per user", f"{row['interruption_s_per_user']:.2f} s",
               help="Seconds per user that the application waited for its model")
table = overall.reset_index()[["policy", "switches", "interruption_s_per_user", "on_time_share", "wasted_Mbit",
                               "peak_bs_load_Mbps", "predicted_share", "downloaded_Mbit"]]
st.dataframe(table, hide_index=True, width="stretch", key="policy_table",
             column_config={"interruption_s_per_user": st.column_config.NumberColumn("interruption per user (s)",
                                                                                     format="%.2f"),
                            "on_time_share": st.column_config.NumberColumn("on time", format="percent"),
                            "wasted_Mbit": st.column_config.NumberColumn("wasted (Mbit)", format="%.0f"),
                            "peak_bs_load_Mbps": st.column_config.NumberColumn("peak BS load (Mb/s)", format="%.1f"),
                            "predicted_share": st.column_config.NumberColumn("predicted", format="percent"),
                            "downloaded_Mbit": st.column_config.NumberColumn("downloaded (Mbit)", format="%.0f")})
st.caption(f"{result.config.n_users} users, {result.config.duration_s / 60:g} min, {accelerators} accelerator(s), "
           f"seed {seed}, area: {result.area_name}. Switches: model changes the users needed. Wasted: downloads of "
           "a wrongly predicted model. Peak load: the largest one-minute mean download rate at one base station.")
d1, d2, d3 = st.columns(3)
d1.download_button("Policy table (CSV)", table.to_csv(index=False), "policies.csv", "text/csv", on_click="ignore",
                   key="dl_policies")
d2.download_button("Per-user results (CSV)", lambda: result.users.to_csv(index=False), "users.csv", "text/csv",
                   on_click="ignore", key="dl_users")
d3.download_button("Every model switch (CSV)", lambda: result.events.to_csv(index=False), "switches.csv",
                   "text/csv", on_click="ignore", key="dl_events")

b1, b2 = st.columns(2)
b1.plotly_chart(charts.policy_bar(overall, "interruption_s_per_user"), key="bar_interruption")
b2.plotly_chart(charts.policy_bar(overall, "wasted_Mbit"), key="bar_waste")
load_fig = charts.load_figure(result.load)
st.plotly_chart(load_fig, key="load_chart", config={"displaylogo": False})
l1, l2 = st.columns(2)
l1.download_button("Load chart (HTML)", lambda: charts.figure_html(load_fig), "bs_load.html", "text/html",
                   on_click="ignore", key="dl_load_html")
l2.download_button("Load per base station (CSV)", lambda: result.load.to_csv(index=False), "bs_load.csv",
                   "text/csv", on_click="ignore", key="dl_load_csv")

st.subheader("Map")
policy = st.radio("Downloads shown on the map", POLICIES, key="mob_policy", horizontal=True)
kept["mob_policy"] = policy
st.caption("The first 20 users' paths; circles: where each download started (ring) and finished (dot), green on "
           "time, red late. Press play on the map to watch them move. Streets are drawn from the area data, so "
           "the map needs no internet.")
# st.iframe replaces the deprecated components.v1.html; the HTML is ours and loads Leaflet from /app/static only.
st.iframe(services.mobility_map(*args, policy), height=560)
st.download_button("Map (HTML, opens offline)", lambda: map_html(result, policy=policy, inline_assets=True),
                   "predictive_downloads_map.html", "text/html", on_click="ignore", key="dl_map")

st.subheader("One user's day")
users_df = result.users[result.users["policy"] == result.config.policies[0]].set_index("user")
with_switches = [int(u) for u in users_df.index if users_df.loc[u, "switches"] > 0]
choices = with_switches or [0]
default_user = next((u for u in choices if u < 20), choices[0])  # one of the users drawn on the map
user = st.selectbox("User", choices, index=choices.index(default_user), key="mob_user",
                    format_func=lambda u: f"user {u} ({users_df.loc[u, 'mode']}, {users_df.loc[u, 'switches']} "
                                          "model switches)" + (" — on the map" if u < 20 else ""))
st.plotly_chart(timeline_figure(result, user), key="timeline_chart")
