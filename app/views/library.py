"""AI library page: the three tiers (edge, local, central cloud) and the sub-models each holds, measured."""
import re

import pandas as pd
import streamlit as st

from app import glossary, present, services, units
from app.library_build import build_button

s = services.settings()
st.title("AI library")
lead = st.empty()  # the page's result in one sentence, filled once the library is open
present.report_button("AI library", s)
st.caption("Sub-models of the root model made in advance, each with its measured size and accuracy, stored as a "
           "catalog plus one weight file per entry, and placed in three tiers (paper Section 3, Fig. 2).",
           help=glossary.tip("sub-model", "tier", "AI library"))

tiers = pd.DataFrame([{"tier": t.name, "holds": t.holds, "access latency (ms)": t.access_latency_s * 1e3,
                       "backhaul (Gb/s)": t.backhaul_bps / 1e9, "source": t.source} for t in services.TIER_PRESETS.values()])
present.table(tiers, "The three tiers", hide_index=True, width="stretch", key="tiers_table")

lib, problem = services.library_or_none(s.model)
if lib is None:
    command = (f"python -m core.network.library build --out {units.path(services.library_path(s.model))} "
               f"--checkpoint {units.path(services.checkpoint_path(s.model))}")
    st.warning(f"{problem} Build it here or with `{command}`.")
    build_button(services.library_path(s.model), s.model)
    st.stop()

entries = lib.entries()
rule = re.sub(r",\s*core\.[A-Za-z_.]+", "", " ".join(str(lib.meta.get("tier_rule", "")).split()))  # no code names
st.caption(f"{len(entries)} entries in the folder `{units.path(lib.folder)}`. Which tier holds an entry: {rule}")
counts = entries.groupby("tier").size()
if len(entries):
    smallest, largest = entries.loc[entries["total_bits"].idxmin()], entries.loc[entries["total_bits"].idxmax()]
    lead.markdown(f"**{len(entries)} sub-models of this root, from {units.bits(smallest['total_bits'])} "
                  f"({smallest['label']}, {units.percent(smallest['size_pct_of_root'] / 100)} of the root) to "
                  f"{units.bits(largest['total_bits'])} ({largest['label']}): "
                  + ", ".join(f"{int(counts.get(t, 0))} in the {t} cloud" for t in ("edge", "local", "central"))
                  + ".**")
cols = st.columns(3)
for col, name in zip(cols, ("edge", "local", "central")):
    part = entries[entries["tier"] == name]
    present.metric(col, f"{name.capitalize()} cloud ({services.HOLDS[name]})",
                   f"{len(part)} sub-model{'' if len(part) == 1 else 's'}",
                   f"{units.size_bytes(part['total_bits'].sum() / 8)} stored" if len(part) else "empty",
                   delta_color="off", delta_arrow="off", help=glossary.explain("tier"))
    if not len(part):  # an empty tier says why, and what would go there
        limit = services.edge_limit_bits()
        window = (f"{units.seconds(services.REAL_TIME_MAX_S)} at {units.rate(services.REFERENCE_DOWNLINK_BPS)}")
        largest = entries[entries["technique"] != "root"]["total_bits"].max() if len(entries) else 0
        col.caption({
            "edge": f"Empty: no sub-model of this root downloads from the edge within {window} (at most "
                    f"{units.bits(limit)}).",
            "local": f"Empty: every sub-model of this root downloads from the edge within {window} (the largest is "
                     f"{units.bits(largest)}, the limit {units.bits(limit)}), so the tier rule keeps it at the edge. "
                     "A sub-model larger than that, e.g. of a bigger root, would be stored here.",
            "central": "Empty: the library holds no entry of the uncompressed root model, which would be stored "
                       "here (a generic model, downloaded ahead of use).",
        }[name])

f1, f2, f3, f4 = st.columns(4)
tier_pick = f1.multiselect("Tier", ["edge", "local", "central"], default=["edge", "local", "central"], key="lib_tier")
tech_pick = f2.multiselect("Technique", sorted(entries["technique"].unique()),
                           default=sorted(entries["technique"].unique()), key="lib_tech")
bits_pick = f3.multiselect("Bits", sorted(entries["bits"].unique()), default=sorted(entries["bits"].unique()),
                           key="lib_bits")
depth_pick = f4.multiselect("Exit (depth)", sorted(entries["depth"].unique()),
                            default=sorted(entries["depth"].unique()), key="lib_depth")
view = entries[entries["tier"].isin(tier_pick) & entries["technique"].isin(tech_pick)
               & entries["bits"].isin(bits_pick) & entries["depth"].isin(depth_pick)]
shown = view[["id", "tier", "technique", "label", "version", "total_bits", "size_pct_of_root", "nonzero_parameters",
              "effective_macs", "device_memory_bytes", "accuracy", "split_accuracy", "generation_seconds"]]
shown = shown.assign(total_bits=shown["total_bits"] / 1e6, device_memory_bytes=shown["device_memory_bytes"] / 1e6,
                     effective_macs=shown["effective_macs"] / 1e6)
present.table(shown, "Entries", hide_index=True, width="stretch", key="entries_table",
              column_config={"id": "entry", "label": "sub-model",
                             "version": st.column_config.NumberColumn(
                                 "version", format="%d", help="1: as the library was built; 2 and up: improved "
                                                              "versions (see Versions below)"),
                             "total_bits": st.column_config.NumberColumn("download (Mbit)", format="%.3f"),
                             "size_pct_of_root": st.column_config.NumberColumn("size (% of root)", format="%.1f"),
                             "nonzero_parameters": st.column_config.NumberColumn("non-zero weights", format="%d"),
                             "effective_macs": st.column_config.NumberColumn(
                                 "million multiply-adds per image (pruned skipped)", format="%.1f"),
                             "device_memory_bytes": st.column_config.NumberColumn("device memory (MB)",
                                                                                  format="%.3f"),
                             "accuracy": st.column_config.NumberColumn("accuracy", **units.PERCENT_COLUMN),
                             "split_accuracy": st.column_config.NumberColumn("accuracy with server finishing",
                                                                             **units.PERCENT_COLUMN),
                             "generation_seconds": st.column_config.NumberColumn("time to make (s)",
                                                                                 format="%.1f")})
st.download_button("Entries (CSV)", view.drop(columns=["layer_bits", "layer_density"], errors="ignore")
                   .to_csv(index=False), "ai_library.csv", "text/csv")

st.subheader("Accuracy under bit errors (measured when the library was built)")
ber = lib.ber_table()
ber = ber[ber["entry_id"].isin(view["id"])].merge(entries[["id", "label"]], left_on="entry_id", right_on="id")
if ber.empty:
    st.info("No BER measurements for these entries.")
else:
    trials, images = int(ber["trials"].min()), int((ber["images"] / ber["trials"]).min())
    plan = lib.config.trial_plan()
    mixed = (ber["ruined"] > 0) & (ber["ruined"] < ber["trials"])
    st.caption(f"Each value: the paired estimate of the whole test split's accuracy from {trials} to "
               f"{int(ber['trials'].max())} downloads of {images} or more test images each, as a share of images "
               f"classified correctly. Downloads continue until the 95 % interval is within "
               f"{units.plus_minus(plan.target_half_width)} or {plan.max_trials} are done, and at least "
               f"{plan.mixed_min_trials} where some were ruined and some not ({int(mixed.sum())} of {len(ber)} "
               f"values). A download is {units.RUINED}. The table below gives each value's 95 % interval, the "
               "spread of single downloads and how many were ruined.")
    wide = ber.pivot_table(index=["label", "mode"], columns=["protection", "ber"], values="mean")
    wide.columns = [f"{services.protection_label(p)}, BER {units.ber_short(b)}" for p, b in wide.columns]
    present.table(wide.reset_index(), "Accuracy under bit errors", hide_index=True, width="stretch",
                  key="ber_wide_table", column_config={"label": "sub-model", **{
                      c: st.column_config.NumberColumn(c, **units.PERCENT_COLUMN) for c in wide.columns}})
    with st.expander("Every value with its 95 % interval, spread and ruined downloads"):
        long = ber.assign(ruined_words=[f"{int(r)} of {int(n)}" for r, n in zip(ber["ruined"], ber["trials"])])
        present.table(long[["label", "mode", "protection", "ber", "mean", "lo", "hi", "p10", "p90", "ruined_words",
                            "ruin_lo", "ruin_hi", "trials", "images"]],
                      "Every value with its 95 % interval", hide_index=True, width="stretch", key="ber_long_table",
                      column_config={"label": "sub-model", "protection": "receiver protection",
                                     "mean": st.column_config.NumberColumn("accuracy", **units.PERCENT_COLUMN),
                                     "lo": st.column_config.NumberColumn("95 % from", **units.PERCENT_COLUMN),
                                     "hi": st.column_config.NumberColumn("95 % to", **units.PERCENT_COLUMN),
                                     "p10": st.column_config.NumberColumn("single downloads: 10th percentile",
                                                                          **units.PERCENT_COLUMN),
                                     "p90": st.column_config.NumberColumn("90th percentile", **units.PERCENT_COLUMN),
                                     "ruined_words": "ruined downloads",
                                     "ruin_lo": st.column_config.NumberColumn("ruined share 95 % from",
                                                                              **units.PERCENT_COLUMN),
                                     "ruin_hi": st.column_config.NumberColumn("to", **units.PERCENT_COLUMN),
                                     "trials": st.column_config.NumberColumn("downloads"),
                                     "images": st.column_config.NumberColumn("images evaluated")})
    st.download_button("BER table (CSV)", ber.to_csv(index=False), "ai_library_ber.csv", "text/csv")

st.subheader("Versions: sub-models improved after the build")
versions = services.library_versions(lib, services.library_key(lib))
if versions.empty:
    st.info("This library holds no improved versions yet: every entry is as the library was built. Devices can "
            "improve an entry together, each training it on its own photos and sending only its changes "
            "(federated learning); the result is stored as a new version of the same sub-model, of the same size, "
            "with its own measured accuracy, how it was made and its fingerprint. Make one with "
            f"`{services.improve_command(lib, s.model)}`.", icon=":material/info:")
else:
    pairs = list(dict.fromkeys(versions["pair"]))
    st.caption(f"{len(pairs)} improved version{'' if len(pairs) == 1 else 's'}, each beside the entry it was "
               f"improved from. A version has that entry's size; its accuracy was measured afresh on all "
               f"{int(lib.data_identity['test_samples']):,} test images and under bit errors as the library measures "
               "every entry (no protection, the device's own exit). The selection can choose a version like any "
               "entry, and the Live accuracy page offers each one.")
    bers = [c for c in versions.columns if c.startswith("ber ")]
    ber_names = {c: f"BER {units.ber_short(float(c[4:]))}" for c in bers}
    for pair in pairs:
        part = versions[versions["pair"] == pair]
        new_row = part[part["side"] == "version"].iloc[0]
        st.markdown(f"**{new_row['label']}**")
        table = part.assign(total_bits=part["total_bits"] / 1e6, fingerprint=part["file_sha256"].str[:16] + "…",
                            side=part["side"].map({"version": "improved version", "improved from": "improved from"}))
        present.table(table[["side", "label", "version", "total_bits", "accuracy", "split_accuracy", *bers,
                             "fingerprint"]].rename(columns=ber_names), f"Versions: {new_row['label']}",
                      hide_index=True, width="stretch", key=f"versions_{pair}",
                      column_config={"side": "role", "label": "sub-model",
                                     "version": st.column_config.NumberColumn("version", format="%d"),
                                     "total_bits": st.column_config.NumberColumn("download (Mbit)", format="%.3f"),
                                     "accuracy": st.column_config.NumberColumn("accuracy", **units.PERCENT_COLUMN),
                                     "split_accuracy": st.column_config.NumberColumn(
                                         "accuracy with server finishing", **units.PERCENT_COLUMN),
                                     **{n: st.column_config.NumberColumn(n, **units.PERCENT_COLUMN)
                                        for n in ber_names.values()},
                                     "fingerprint": st.column_config.TextColumn(
                                         "fingerprint (sha256)", help="The first 16 of the 64 hexadecimal digits "
                                                                      "of the weight file's sha256")})
        st.caption(new_row["provenance"])
    st.download_button("Versions (CSV)", versions.to_csv(index=False), "ai_library_versions.csv", "text/csv")

st.subheader("Weight files")
if st.button("Check every weight file against its fingerprint (sha256)", key="lib_verify"):
    damaged = services.damaged_entries(s.model)
    if damaged:
        built = [d for d in damaged if d.version == 1]
        st.error(f"{len(damaged)} damaged entr{'y' if len(damaged) == 1 else 'ies'}: "
                 + "; ".join(f"{d.key} ({d.file}): {d.problem}" for d in damaged)
                 + (". \"Complete the library\" below regenerates the entries as built" if built else "")
                 + (". An improved version cannot be made again from the root: restore its file, or improve the "
                    "entry again" if len(built) < len(damaged) else "") + ".")
    else:
        st.success(f"All {len(entries)} weight files match the catalog.")
with st.expander("Complete the library (only missing or damaged entries are generated)"):
    build_button(services.library_path(s.model), s.model)
present.words("sub-model", "tier", "AI library", "exit", "split", "BER", "protection", "keep ratio")

st.subheader("Situation models in the library")
st.caption("Each place's situation has its own model: this root cut to the classes a device sees there and fine-tuned "
           "on that place's photos (see the Sub-models page). Each situation model has its own sub-models of every "
           "technique, scored on its own situation's test photos, and their accuracy under bit errors (received "
           "without protection).")
rows, opened = [], {}
for name in services.situations_of(s.model):
    sit_lib, why = services.situation_library_or_none(name)
    if sit_lib is None:
        rows.append({"situation": name, "classes": "", "photos": None, "entries": 0, "smallest": None,
                     "smallest_acc": None, "whole": None, "whole_acc": None, "note": why})
        continue
    opened[name] = sit_lib
    e = sit_lib.entries()
    small, whole = e.loc[e["total_bits"].idxmin()], e.loc[e["total_bits"].idxmax()]
    rows.append({"situation": name, "classes": ", ".join(sit_lib.root_card.get("classes", [])),
                 "photos": int(sit_lib.data_identity.get("test_samples", 0)), "entries": len(e),
                 "smallest": small["total_bits"] / 1e6, "smallest_acc": small["accuracy"],
                 "whole": whole["total_bits"] / 1e6, "whole_acc": whole["accuracy"], "note": ""})
if rows:
    present.table(pd.DataFrame(rows), "Situation models", hide_index=True, width="stretch", key="situation_table",
                  column_config={"photos": st.column_config.NumberColumn("test photos", format="%d"),
                                 "entries": st.column_config.NumberColumn("sub-models", format="%d"),
                                 "smallest": st.column_config.NumberColumn("smallest download (Mbit)",
                                                                           format="%.3f"),
                                 "smallest_acc": st.column_config.NumberColumn("smallest: accuracy",
                                                                               **units.PERCENT_COLUMN),
                                 "whole": st.column_config.NumberColumn("largest download (Mbit)", format="%.3f"),
                                 "whole_acc": st.column_config.NumberColumn("largest: accuracy",
                                                                           **units.PERCENT_COLUMN),
                                 "note": "why not shown"})
if opened:
    pick = st.selectbox("Sub-models of one situation model", list(opened), key="lib_situation")
    sit_lib = opened[pick]
    e = sit_lib.entries()
    cells = sit_lib.ber_table()
    cells = cells[(cells["mode"] == "exit") & (cells["protection"] == "none")]
    wide = cells.pivot_table(index="entry_id", columns="ber", values="mean")
    wide.columns = [f"BER {units.ber_short(b)}" for b in wide.columns]
    table = e[["id", "tier", "technique", "label", "total_bits", "accuracy"]].merge(
        wide, left_on="id", right_index=True, how="left").assign(total_bits=lambda d: d["total_bits"] / 1e6)
    present.table(table.drop(columns=["id"]), f"Sub-models of the {pick} model", hide_index=True, width="stretch",
                  key="situation_entries",
                  column_config={"label": "sub-model",
                                 "total_bits": st.column_config.NumberColumn("download (Mbit)", format="%.3f"),
                                 "accuracy": st.column_config.NumberColumn(
                                     f"accuracy on {pick} photos", **units.PERCENT_COLUMN),
                                 **{c: st.column_config.NumberColumn(c, **units.PERCENT_COLUMN)
                                    for c in wide.columns}})
