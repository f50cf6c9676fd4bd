"""Rate requirements page: the paper's Fig. 4 (required rate = sub-model bits / latency budget), interactive, with
the reference-rate presets and their sources, the largest sub-model that fits a rate, and the paper's statements
beside what the arithmetic gives."""
import pandas as pd
import streamlit as st

from app import charts, glossary, present, services, units

APPLICATIONS, PAPER, REFERENCE_RATES = services.APPLICATIONS, services.PAPER, services.REFERENCE_RATES

s = services.settings()
COUNT_LABELS = {"paper": "the paper's rounded counts", "counted": "counted from torchvision"}
YOURS = "your downlink (sidebar)"

# Widget values survive a visit to another page (Streamlit drops the state of widgets that are not drawn).
kept = st.session_state.setdefault("rates_kept", {
    "rates_models": list(services.PAPER_MODELS), "rates_apps": list(services.PAPER_APPLICATIONS), "rates_bits": 32,
    "rates_counts": "paper", "rates_head": True, "rates_refs": ["user-experienced", "peak"], "rates_log": True,
    "rates_fit_rate": YOURS})
for key, value in kept.items():
    st.session_state.setdefault(key, value)

st.title("Rate requirements")
lead = st.empty()  # the page's result in one sentence, filled once the largest shares that fit are computed
present.report_button("Rate requirements", s)
st.caption("Paper Fig. 4: the downlink rate R = sub-model bits / latency budget needed to download a sub-model "
           "over the air in time. Pure arithmetic on parameter counts; change the assumptions below.",
           help=glossary.tip("sub-model", "latency budget", "user-experienced rate"))

c1, c2, c3 = st.columns([2, 2, 1])
models = c1.multiselect("Root models", list(services.ROOT_MODELS), key="rates_models")
applications = c2.multiselect("Applications", list(APPLICATIONS), key="rates_apps")
bits = c3.selectbox("Bits per parameter", (32, 16, 8, 4), key="rates_bits",
                    help="32: the paper's fp32 root models; fewer bits model a bit-level sub-model")
c1, c2, c3 = st.columns([2, 2, 1])
counts = c1.radio("Parameter counts", list(COUNT_LABELS), format_func=COUNT_LABELS.get, horizontal=True,
                  key="rates_counts")
include_head = c1.checkbox("Count the classifier head", key="rates_head",
                           disabled=counts == "paper", help="Only for counts from torchvision")
references = c2.multiselect("Reference rates", list(REFERENCE_RATES),
                            format_func=lambda k: REFERENCE_RATES[k].name, key="rates_refs")
log_y = c3.toggle("Log scale", key="rates_log")
kept.update({k: st.session_state[k] for k in kept if k != "rates_fit_rate"})

if not models or not applications:
    st.info("Choose at least one root model and one application to draw the figure.")
    st.stop()

# The sidebar's application, with its own latency budget when the sidebar overrides the preset.
yours_app = s.application
budgets = [(a, APPLICATIONS[a].latency_s) for a in applications]
if yours_app not in applications or s.latency_s != APPLICATIONS[yours_app].latency_s:
    budgets.append((f"{yours_app} (sidebar, {s.latency_s * 1000:g} ms)", s.latency_s))
extra = tuple(b for b in budgets if b[0] not in applications)
table = services.fig4(tuple(models), tuple(applications), bits, counts, include_head, budgets=extra)
highlight = extra[0][0] if extra else yours_app
ref_df = pd.DataFrame([{"name": REFERENCE_RATES[k].name, "low_bps": REFERENCE_RATES[k].low_bps,
                        "high_bps": REFERENCE_RATES[k].high_bps, "source": REFERENCE_RATES[k].source}
                       for k in references], columns=["name", "low_bps", "high_bps", "source"])
fig = charts.fig4_figure(table, ref_df, log_y, highlight=highlight, your_rate_bps=s.downlink_mbps * 1e6)
present.chart(fig, key="fig4_chart", name="fig4_rates")
st.caption(f"Thick lines: the sidebar's application ({highlight}). Black line: the sidebar's downlink, "
           f"{units.rate(s.downlink_mbps * 1e6)}. Bits per parameter: {bits}; counts: {COUNT_LABELS[counts]}.")
d1, d2 = st.columns(2)
d1.download_button("Download chart (HTML, works offline)", lambda: charts.figure_html(fig), "fig4.html",
                   "text/html", on_click="ignore", key="dl_fig4_html")
d2.download_button("Download curves (CSV)", table.to_csv(index=False), "fig4.csv", "text/csv", on_click="ignore",
                   key="dl_fig4_csv")
if references:
    shown = ref_df.assign(low=ref_df["low_bps"].map(charts.format_rate),
                          high=ref_df["high_bps"].map(charts.format_rate))
    present.table(shown[["name", "low", "high", "source"]], "Reference rates", hide_index=True, width="stretch",
                  key="refs_table", column_config={"name": "reference rate", "low": "from", "high": "to"})

st.subheader("The largest sub-model that fits")
rate_choices = [YOURS] + list(REFERENCE_RATES)
rate_key = st.selectbox("At the rate", rate_choices, key="rates_fit_rate",
                        format_func=lambda k: f"{YOURS}: {units.rate(s.downlink_mbps * 1e6)}" if k == YOURS else
                        f"{REFERENCE_RATES[k].name}: {charts.format_rate(REFERENCE_RATES[k].rate_bps)}")
kept["rates_fit_rate"] = rate_key
rate_bps = s.downlink_mbps * 1e6 if rate_key == YOURS else REFERENCE_RATES[rate_key].rate_bps
if rate_key != YOURS:
    ref = REFERENCE_RATES[rate_key]
    st.caption(f"Source: {ref.source}." + (f" A range: the table uses its low end, {charts.format_rate(ref.low_bps)}."
                                           if ref.high_bps > ref.low_bps else ""))
fits = services.fit_table(tuple(models), tuple(budgets), rate_bps, bits, counts, include_head)
mine = fits[fits["application"] == highlight]
if len(mine):
    hardest = mine.loc[mine["full_model_rate_bps"].idxmax()]
    at_rate = (f"your downlink of {units.rate(rate_bps)}" if rate_key == YOURS else
               f"the {REFERENCE_RATES[rate_key].name} of {units.rate(rate_bps)}")
    lead.markdown(f"**At {at_rate}, {yours_app} ({units.seconds(float(mine['latency_s'].iloc[0]))} budget) can "
                  "download in time " + ", ".join(("all" if r.max_fraction >= 1 else units.percent(r.max_fraction))
                                                  + f" of {r.model}" for r in mine.itertuples())
                  + f" ({bits}-bit weights); the whole {hardest['model']} needs "
                    f"{units.rate(hardest['full_model_rate_bps'])}.**")
fits = fits.assign(full_model_Gbps=fits["full_model_rate_bps"] / 1e9).drop(columns="full_model_rate_bps")
heat = charts.fit_heatmap(fits, f"Largest share of the root model deliverable at {charts.format_rate(rate_bps)}")
present.chart(heat, key="fit_chart", name="largest_share_that_fits")
present.table(fits, "Largest share that fits", hide_index=True, width="stretch", key="fit_table",
             column_config={"whole_model_fits": "whole model fits",
                            "max_fraction": st.column_config.NumberColumn("largest share that fits",
                                                                          **units.PERCENT_COLUMN),
                            "root_Mbit": st.column_config.NumberColumn("root (Mbit)", format="%.1f"),
                            "max_Mbit": st.column_config.NumberColumn("max sub-model (Mbit)", format="%.1f"),
                            "latency_s": st.column_config.NumberColumn("latency budget (s)", format="%g"),
                            "full_model_Gbps": st.column_config.NumberColumn("whole model needs (Gb/s)",
                                                                                 format="%.3g")})
st.download_button("Download table (CSV)", fits.to_csv(index=False), "max_fraction.csv", "text/csv",
                   on_click="ignore", key="dl_fit_csv")

st.subheader("The paper's statements and the arithmetic")
st.caption(f"Source of the statements: {PAPER}. 'Arithmetic' uses the paper's assumptions (its rounded counts, "
           f"32 bits per parameter); 'with your choices' uses the counts and bits chosen above.")
statements = services.paper_statements(bits, counts, include_head)
claims_df = pd.DataFrame({
    "the paper says": statements["statement"], "implies the largest share is": statements["implies"],
    "at": statements["rate_bps"].map(charts.format_rate), "arithmetic: largest share": statements["paper_share"],
    "full model needs": statements["paper_full_rate_bps"].map(charts.format_rate),
    "with your choices": statements["your_share"],
    "full model needs (yours)": statements["your_full_rate_bps"].map(charts.format_rate)})
present.table(claims_df, "The paper's statements and the arithmetic", hide_index=True, width="stretch",
              key="claims_table",
             column_config={"arithmetic: largest share": st.column_config.NumberColumn(**units.PERCENT_COLUMN),
                            "with your choices": st.column_config.NumberColumn(**units.PERCENT_COLUMN)})
st.download_button("Download statements (CSV)", claims_df.to_csv(index=False), "fig4_statements.csv", "text/csv",
                   on_click="ignore", key="dl_claims_csv")

with st.expander("Parameter counts: the paper's numbers and torchvision's"):
    counts_df = services.parameter_counts()
    present.table(counts_df, "Parameter counts", hide_index=True, width="stretch", key="counts_table",
                  column_config={"arch": "torchvision architecture", "paper_params": "the paper's count",
                                 "counted_params": "counted", "counted_params_without_head": "counted without the "
                                 "classifier head"})
    st.caption("Counted by building each torchvision architecture on PyTorch's meta device (no weights). "
               "The paper's ViT-Large count (307 M) matches ViT-L/32, which the paper's curves use here.")
    st.download_button("Download counts (CSV)", counts_df.to_csv(index=False), "parameter_counts.csv", "text/csv",
                       on_click="ignore", key="dl_counts_csv")
present.words("sub-model", "latency budget", "user-experienced rate")
