"""Pure drawing functions for the mobility simulator: a folium map that works offline (Leaflet served by the app;
land and sea from the area's real coastline, streets from the area data, a legend and an own time slider) and a
plotly timeline per user. No streamlit here."""
from __future__ import annotations

import json
import re
from pathlib import Path

import folium
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from branca.element import Element, MacroElement
from jinja2 import Template

from core.mobility.area import Area, load_area
from core.mobility.simulate import SimulationResult
from core.validation import check_choice, check_int

STATIC_DIR = Path(__file__).resolve().parent / "static"
LEAFLET_FILES = {"js": "leaflet/leaflet.js", "css": "leaflet/leaflet.css"}
# Optional layer only: drawing it needs the internet; the street layer from the area data never does.
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"

# Colour-blind-safe (Okabe-Ito and a brown), one meaning per colour in a chart: the models' contexts (each a
# situation of core.situation.situations) never share a colour with a download's status (on time, late, wasted),
# an interruption or a detector's trigger. A context that is not in the table gets CONTEXT_FALLBACK.
CONTEXT_COLORS = {
    "road": "#0072B2", "harbour and airfield": "#56B4E9", "park": "#A6761D", "home": "#CC79A7",
    "post office": "#E69F00",
}
CONTEXT_FALLBACK = "#17becf"
ON_TIME, LATE, WASTED = "#009E73", "#D55E00", "#999999"
INTERRUPTION = "#000000"
TRIGGER = "#882255"     # where a drift detector fired: filled when the held model was wrong, hollow when it was not
LAND, SEA, BLANK = "#f2efe9", "#aad3df", "#f4f1ea"     # land and sea as on common street maps; no coastline
LAYER_NAMES = {
    "land": "Land and sea (GSHHG coastline)", "streets": "Streets (area data)",
    "tiles": "OpenStreetMap tiles (needs internet)", "places": "Places",
    "base_stations": "Base stations with edge servers", "paths": "User paths (sample)",
    "starts": "Download starts", "completions": "Download completions", "animation": "Users moving (time slider)",
}
TRIGGER_LAYER = "Where the detector fired"      # drawn only when build_map is given triggers


def context_color(context: str) -> str:
    return CONTEXT_COLORS.get(context, CONTEXT_FALLBACK)


TRIGGER_SIZE_PX = 11


def trigger_symbol(true: bool) -> str:
    """A detector's trigger as drawn on the map and in the legend: a diamond, filled when the held model was wrong
    for the place (a true trigger), hollow when it was right (a false one)."""
    fill = TRIGGER if true else "white"
    return (f'<span style="display:inline-block;width:{TRIGGER_SIZE_PX - 3}px;height:{TRIGGER_SIZE_PX - 3}px;'
            f'background:{fill};border:2px solid {TRIGGER};transform:rotate(45deg);margin:0 7px 0 2px;'
            'vertical-align:middle"></span>')


def _area_of(result: SimulationResult, area: Area | None) -> Area:
    return area if area is not None else load_area(result.config.area_path)


class TimeSlider(MacroElement):
    """Slider, play button and clock that move one circle marker per user through the frames (plain Leaflet,
    so no plugin has to come from a CDN)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function() {
    var data = {{ this.data }};
    var group = {{ this.group.get_name() }};
    var markers = data.users.map(function(u) {
        return L.circleMarker(u.path[0], {radius: 5, color: u.color, weight: 1, fillColor: u.color,
                                          fillOpacity: 0.9}).bindTooltip(u.label).addTo(group);
    });
    var control = L.control({position: 'bottomleft'});
    control.onAdd = function() {
        var div = L.DomUtil.create('div', 'mobility-time-slider');
        div.style.cssText = 'background: white; padding: 6px 8px; font: 12px sans-serif; border-radius: 4px;';
        div.innerHTML = '<button type="button" class="play">&#9654;</button> ' +
            '<input type="range" min="0" max="' + (data.times.length - 1) + '" value="0" step="1" ' +
            'style="width: 240px; vertical-align: middle;"> <span class="clock"></span>';
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
    };
    control.addTo({{ this._parent.get_name() }});
    var box = control.getContainer();
    var slider = box.querySelector('input'), clock = box.querySelector('.clock'), button = box.querySelector('.play');
    function show(i) {
        markers.forEach(function(m, k) { m.setLatLng(data.users[k].path[i]); });
        var t = data.times[i], h = Math.floor(t / 3600), mnt = Math.floor((t % 3600) / 60), s = Math.floor(t % 60);
        clock.textContent = 't = ' + h + ':' + String(mnt).padStart(2, '0') + ':' + String(s).padStart(2, '0');
    }
    var timer = null;
    function stop() { clearInterval(timer); timer = null; button.innerHTML = '&#9654;'; }
    button.addEventListener('click', function() {
        if (timer) { stop(); return; }
        button.innerHTML = '&#10074;&#10074;';
        timer = setInterval(function() {
            var i = (parseInt(slider.value) + 1) % data.times.length;
            slider.value = i; show(i);
        }, {{ this.interval_ms }});
    });
    slider.addEventListener('input', function() { show(parseInt(slider.value)); });
    show(0);
})();
{% endmacro %}
""")

    def __init__(self, data: dict, group: folium.FeatureGroup, interval_ms: int = 100):
        super().__init__()
        self._name = "TimeSlider"
        self.data = json.dumps(data, separators=(",", ":"))
        self.group = group
        self.interval_ms = int(interval_ms)


class Legend(MacroElement):
    """A fixed legend box (plain Leaflet control): what each colour and symbol on the map means."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function() {
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function() {
        var div = L.DomUtil.create('div', 'mobility-legend');
        div.style.cssText = 'background: rgba(255,255,255,0.92); padding: 5px 8px; font: 11px sans-serif; ' +
                            'border-radius: 4px; max-width: 240px; line-height: 1.35; max-height: 70vh; ' +
                            'overflow-y: auto;';
        div.innerHTML = {{ this.html }};
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
    };
    legend.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
""")

    def __init__(self, html: str):
        super().__init__()
        self._name = "Legend"
        self.html = json.dumps(html)


def _swatch(color: str, shape: str = "box", border: str = "#555") -> str:
    radius = "50%" if shape == "dot" else "2px"
    height = "4px" if shape == "line" else "11px"
    return (f'<span style="display:inline-block;width:14px;height:{height};background:{color};'
            f'border:1px solid {border};border-radius:{radius};margin-right:5px;vertical-align:middle"></span>')


def legend_html(area: Area, policy: str, triggers: bool = False) -> str:
    """The legend's HTML: land and sea (with the coastline's source and caveat), streets, base stations, each
    context's colour, the download markers and, with ``triggers``, the detector's triggers."""
    rows = []
    if area.coastline:
        rows += [_swatch(LAND) + "land", _swatch(SEA) + "sea"]
    rows += [_swatch("#8a8275", "line") + "street", _station_swatch() + "base station (edge server)"]
    for context in sorted({p.context for p in area.places}):
        rows.append(_swatch(context_color(context), "dot") + f"place needing the "
                    f"{area.context_labels.get(context, context)} model")
    rows += [_swatch(ON_TIME, "dot") + f"{policy} download on time", _swatch(LATE, "dot") + f"{policy} download late",
             '<span style="font-size:10px">ring: download starts; dot: download done</span>']
    if triggers:
        rows += [trigger_symbol(True) + "detector fired: the model held was wrong for the place",
                 trigger_symbol(False) + "detector fired although the model held was right (false alarm)"]
    if area.coastline:
        c = area.coastline
        licence = c.get("licence", "").split(" (")[0]       # the SPDX name; the file keeps the full statement
        rows.append(f'<span style="font-size:10px">Coastline: GSHHG full resolution ({licence}). '
                    f'{c.get("caveat", "")}</span>')
    else:
        rows.append('<span style="font-size:10px">No coastline in this area file: land and sea are not drawn.'
                    '</span>')
    # Collapsible (open at first), so that the map under it can be seen.
    return ('<details open><summary style="cursor:pointer"><b>Legend</b></summary>' + "<br>".join(rows)
            + "</details>")


STATION_FILL = "#ffd700"
STATION_SIZE_PX = 12


def _station_swatch() -> str:
    """The base-station symbol as drawn on the map: a gold square with a black border (places are round)."""
    return (f'<span style="display:inline-block;width:{STATION_SIZE_PX}px;height:{STATION_SIZE_PX}px;'
            f'background:{STATION_FILL};border:2px solid black;box-sizing:border-box;margin-right:5px;'
            'vertical-align:middle"></span>')


def add_land(fmap: folium.Map, area: Area, name: str) -> None:
    """Land polygons of the area's coastline over a sea-coloured background (lakes drawn as water)."""
    land = folium.FeatureGroup(name=name).add_to(fmap)
    for level, ring in area.land:
        color = LAND if level % 2 == 1 else SEA
        folium.Polygon(ring.tolist(), color="#9a9a9a", weight=1, fill=True, fill_color=color, fill_opacity=1.0,
                       interactive=False).add_to(land)


def _sample_tracks(result: SimulationResult, sample_users: int) -> pd.DataFrame:
    tracks = result.tracks
    users = np.sort(tracks["user"].unique())[:sample_users]
    return tracks[tracks["user"].isin(users)]


def _position_at(track: pd.DataFrame, t: float) -> tuple[float, float]:
    """A user's position at time ``t``, interpolated between the stored track points."""
    times = track["time_s"].to_numpy()
    return float(np.interp(t, times, track["lat"].to_numpy())), float(np.interp(t, times, track["lon"].to_numpy()))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def build_map(result: SimulationResult, area: Area | None = None, *, sample_users: int = 20,
              policy: str = "predictive", static_base: str = "/app/static", tiles: bool = False,
              interval_ms: int = 100, triggers: pd.DataFrame | None = None,
              place_models: dict | None = None) -> folium.Map:
    """A folium map of one run: streets (from the area data, always), optional tiles, places, base stations, the
    paths of a sample of users, where ``policy`` started and completed each download (green on time, red late)
    and a time slider of the users moving. ``triggers`` (user, time_s, held, place, true: a drift detector's
    alarms, core.situation.mismatch) adds a diamond where each sampled user's detector fired, filled when the
    held model was wrong for the place and hollow for a false alarm. Scripts and styles come from
    ``place_models`` (context -> words) says on each place's tooltip which model is downloaded there.
    Scripts and styles come from ``static_base`` only, so the map works without internet when the app serves ``app/static`` there
    (Streamlit: ``server.enableStaticServing``)."""
    area = _area_of(result, area)
    check_int("sample_users", sample_users, 0, 10_000)
    check_choice("policy", policy, result.config.policies)
    base = static_base.rstrip("/")
    fmap = folium.Map(location=list(area.center), zoom_start=16, tiles=None, control_scale=True,
                      prefer_canvas=True)
    # Per instance: only the vendored Leaflet; folium's jquery, bootstrap and awesome-markers are not needed.
    fmap.default_js = [("leaflet", f"{base}/{LEAFLET_FILES['js']}")]
    fmap.default_css = [("leaflet_css", f"{base}/{LEAFLET_FILES['css']}")]
    background = SEA if area.coastline else BLANK
    fmap.get_root().header.add_child(Element(
        f"<style>.leaflet-container {{ background: {background} !important; }}</style>"), name="mobility_background")
    if area.coastline:
        add_land(fmap, area, LAYER_NAMES["land"])

    if tiles:
        folium.TileLayer(OSM_TILES, attr=OSM_ATTRIBUTION, name=LAYER_NAMES["tiles"], overlay=True,
                         control=True, show=True, max_zoom=19).add_to(fmap)

    streets = folium.FeatureGroup(name=LAYER_NAMES["streets"]).add_to(fmap)
    latlon = area.node_latlon
    for a, b, name in area.edges:
        access = name.startswith("access to ")
        folium.PolyLine([latlon[a].tolist(), latlon[b].tolist()], color="#b0a999" if access else "#8a8275",
                        weight=2 if access else 5, opacity=0.9, tooltip=name or None).add_to(streets)

    places = folium.FeatureGroup(name=LAYER_NAMES["places"]).add_to(fmap)
    for p in area.places:
        color = context_color(p.context)
        said = f"{p.name}: needs the {area.context_labels.get(p.context, p.context)} model"
        model = (place_models or {}).get(p.context)
        text = f"{said}. Downloads: {model}" if model else said
        folium.CircleMarker([p.lat, p.lon], radius=9, color=color, weight=2, fill=True, fill_color=color,
                            fill_opacity=0.35, class_name=f"mobility-place place-{_slug(p.context)}",
                            tooltip=text).add_to(places)  # no folium.Popup: its template needs jQuery

    stations = folium.FeatureGroup(name=LAYER_NAMES["base_stations"]).add_to(fmap)
    for b in area.base_stations:      # squares (a DivIcon: plain Leaflet, nothing fetched), so never read as a place
        half = STATION_SIZE_PX // 2
        folium.Marker([b.lat, b.lon], icon=folium.DivIcon(html=_station_swatch().replace("margin-right:5px;", ""),
                                                          icon_size=(STATION_SIZE_PX, STATION_SIZE_PX),
                                                          icon_anchor=(half, half), class_name="mobility-station"),
                      tooltip=f"Base station {b.name}" + (" with edge server" if b.edge_server else "")
                      ).add_to(stations)

    sample = _sample_tracks(result, sample_users)
    paths = folium.FeatureGroup(name=LAYER_NAMES["paths"]).add_to(fmap)
    starts = folium.FeatureGroup(name=LAYER_NAMES["starts"]).add_to(fmap)
    completions = folium.FeatureGroup(name=LAYER_NAMES["completions"]).add_to(fmap)
    events = result.events[(result.events["policy"] == policy)]
    by_user = dict(tuple(sample.groupby("user", sort=True)))
    for user, track in by_user.items():
        folium.PolyLine(track[["lat", "lon"]].to_numpy().tolist(), weight=2, opacity=0.6,
                        color="#1f77b4" if track["mode"].iloc[0] == "drive" else "#555555",
                        tooltip=f"user {user} ({track['mode'].iloc[0]})").add_to(paths)
        for row in events[events["user"] == user].itertuples():
            color = ON_TIME if row.on_time else LATE
            status = "on time" if row.on_time else f"late, application waited {row.interruption_s:.1f} s"
            folium.CircleMarker(_position_at(track, row.start_s), radius=5, color=color, weight=2, fill=False,
                                tooltip=f"user {user}: {row.model} download starts at {row.start_s:.0f} s "
                                        f"({policy})").add_to(starts)
            folium.CircleMarker(_position_at(track, row.done_s), radius=5, color=color, weight=1, fill=True,
                                fill_color=color, fill_opacity=0.9,
                                tooltip=f"user {user}: {row.model} downloaded at {row.done_s:.0f} s, needed at "
                                        f"{row.t_need_s:.0f} s: {status}").add_to(completions)

    if triggers is not None:
        _add_triggers(fmap, triggers, by_user, area)

    moving = folium.FeatureGroup(name=LAYER_NAMES["animation"]).add_to(fmap)
    times = np.sort(sample["time_s"].unique()).tolist() if len(sample) else [0.0]
    data = {"times": times, "users": [
        {"label": f"user {u} ({t['mode'].iloc[0]})",
         "color": "#1f77b4" if t["mode"].iloc[0] == "drive" else "#222222",
         "path": np.round(t[["lat", "lon"]].to_numpy(), 6).tolist()} for u, t in by_user.items()]}
    fmap.add_child(TimeSlider(data, moving, interval_ms))
    fmap.add_child(Legend(legend_html(area, policy, triggers is not None)))
    folium.LayerControl(collapsed=True).add_to(fmap)    # an icon at the top right; opens on hover
    # The area fills the map left of the legend (bottom right) and above the time slider (bottom left).
    fmap.fit_bounds([latlon.min(axis=0).tolist(), latlon.max(axis=0).tolist()], padding_top_left=(20, 20),
                    padding_bottom_right=(275, 40))
    return fmap


def _add_triggers(fmap: folium.Map, triggers: pd.DataFrame, by_user: dict, area: Area) -> None:
    """Diamonds where the sampled users' detectors fired, at the user's position then (from the kept track)."""
    missing = [c for c in ("user", "time_s", "held", "place", "true") if c not in triggers.columns]
    if missing:
        raise ValueError(f"triggers lacks columns {missing}; it needs user, time_s, held, place and true")
    layer = folium.FeatureGroup(name=TRIGGER_LAYER).add_to(fmap)
    word = lambda c: area.context_labels.get(c, str(c).replace("_", " "))  # noqa: E731
    half = TRIGGER_SIZE_PX // 2
    for row in triggers[triggers["user"].isin(list(by_user))].itertuples(index=False):
        true = bool(row.true)
        what = (f"the {word(row.held)} model was wrong here, the {word(row.place)} model is downloaded" if true
                else f"false alarm: the {word(row.held)} model was the right one")
        folium.Marker(_position_at(by_user[row.user], row.time_s),
                      icon=folium.DivIcon(html=trigger_symbol(true).replace("margin:0 7px 0 2px;", ""),
                                          icon_size=(TRIGGER_SIZE_PX, TRIGGER_SIZE_PX), icon_anchor=(half, half),
                                          class_name="mobility-trigger"),
                      tooltip=f"user {row.user}: detector fired at {row.time_s:.0f} s: {what}").add_to(layer)


def map_html(result: SimulationResult, area: Area | None = None, *, inline_assets: bool = False, **kwargs) -> str:
    """The map as one HTML page. ``inline_assets`` embeds Leaflet's script and style in the page, so the file
    also opens offline outside the app (e.g. saved and sent by mail)."""
    kwargs.setdefault("static_base", "/app/static")
    html = build_map(result, area, **kwargs).get_root().render()
    if inline_assets:
        base = re.escape(kwargs["static_base"].rstrip("/"))
        js = (STATIC_DIR / LEAFLET_FILES["js"]).read_text(encoding="utf-8")
        css = (STATIC_DIR / LEAFLET_FILES["css"]).read_text(encoding="utf-8")
        html = re.sub(rf'<script src="{base}/{re.escape(LEAFLET_FILES["js"])}"></script>',
                      lambda _: f"<script>{js}</script>", html)
        html = re.sub(rf'<link rel="stylesheet" href="{base}/{re.escape(LEAFLET_FILES["css"])}"/>',
                      lambda _: f"<style>{css}</style>", html)
    return html


def timeline_figure(result: SimulationResult, user_id: int, policies: tuple[str, ...] | None = None,
                    labels: dict | None = None) -> go.Figure:
    """Per policy, three rows for one user: which model runs, downloads in flight (green on time, red late,
    grey wasted on a wrong prediction) and the interruptions of the application. ``labels`` names each context
    in words (the area's ``context_labels``)."""
    labels = labels or {}
    word = lambda c: labels.get(c, str(c).replace("_", " "))  # noqa: E731
    check_int("user_id", user_id, 0, result.config.n_users - 1)
    policies = tuple(policies or result.config.policies)
    for p in policies:
        check_choice("policies", p, result.config.policies)
    horizon = result.config.duration_s
    users = result.users
    fig = go.Figure()
    seen = set()

    def bar(row, start, end, color, name, text, legend):
        if end <= start:
            return
        fig.add_trace(go.Bar(y=[row], x=[end - start], base=[start], orientation="h", marker_color=color,
                             name=name, legendgroup=name, showlegend=legend and name not in seen,
                             hovertemplate=f"{text}<br>%{{base:.1f}} s to {end:.1f} s<extra></extra>"))
        seen.add(name)

    for policy in policies:
        e = result.events[(result.events["policy"] == policy) & (result.events["user"] == user_id)]
        e = e.sort_values("t_need_s")
        w = result.waste[(result.waste["policy"] == policy) & (result.waste["user"] == user_id)]
        initial = users[(users["policy"] == policy) & (users["user"] == user_id)]["initial_context"].iloc[0]
        rows = (f"{policy}: model", f"{policy}: downloads", f"{policy}: interruptions")
        t0, ctx = 0.0, initial
        for r in e.itertuples():
            if ctx:
                bar(rows[0], t0, r.t_need_s, context_color(ctx), word(ctx), f"{word(ctx)} model runs", True)
            t0, ctx = r.t_need_s + r.interruption_s, r.context
            color = ON_TIME if r.on_time else LATE
            bar(rows[1], r.start_s, r.done_s, color, "on time" if r.on_time else "late",
                f"download of {r.model} ({r.bits / 1e6:.1f} Mbit)", True)
            bar(rows[2], r.t_need_s, r.t_need_s + r.interruption_s, INTERRUPTION, "interruption",
                f"application waits for {r.model}", True)
        if ctx:
            bar(rows[0], t0, horizon, context_color(ctx), word(ctx), f"{word(ctx)} model runs", True)
        for r in w.itertuples():
            bar(rows[1], r.begin_s, r.end_s, WASTED, "wasted (wrong prediction)",
                f"{word(r.context)} model downloaded on a wrong prediction ({r.bits / 1e6:.1f} Mbit)", True)
    fig.update_layout(barmode="overlay", title=f"User {user_id}: models, downloads and interruptions",
                      xaxis_title="time (s)", xaxis_range=[0, horizon], height=140 + 70 * len(policies),
                      legend_title_text="", margin=dict(l=10, r=10, t=50, b=40))
    fig.update_yaxes(autorange="reversed", categoryorder="array",
                     categoryarray=[f"{p}: {k}" for p in policies for k in ("model", "downloads", "interruptions")])
    return fig
