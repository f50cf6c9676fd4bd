"""Sub-models page: the root model card and the sub-models of the three techniques, measured live."""
import pandas as pd
import streamlit as st

from app import services
from core.compress.combine import SubModelSpec

s = services.settings()
root, card = services.root_model(s.model)

st.title("Sub-models")
st.caption("Every number on this page is measured on the shipped root model and the digits test split.")

c1, c2, c3, c4 = st.columns(4)
c1.metric("Root model", f"{card.arch}", help=card.command)
c2.metric("Parameters (root, no exits)", f"{card.root_parameters:,}")
c3.metric("Test accuracy", f"{card.test_accuracy:.1%}")
c4.metric("Test images", f"{card.extra.get('test_samples', '?')}")

st.subheader("The three techniques")
families = {
    "Depth level (exit k)": [SubModelSpec(depth=k) for k in (1, 2, 3, 4)],
    "Bit level (uniform bits)": [SubModelSpec(bits=b) for b in (2, 4, 8, 16)],
    "Parameter level (keep ratio, re-trained)": [SubModelSpec(keep_ratio=r, retrain_steps=100) for r in (0.1, 0.3)],
}
rows = []
for family, specs in families.items():
    for spec in specs:
        sub = services.submodel(spec, 0, s.model)
        c = sub.card
        rows.append({"technique": family, "sub-model": c.label, "size (Mbit)": c.total_bits / 1e6,
                     "size (% of root)": c.size_pct_of_root, "parameters kept": c.nonzero_parameters,
                     "device MMACs": c.effective_macs / 1e6, "accuracy": c.accuracy})
table = pd.DataFrame(rows)
st.dataframe(table, hide_index=True, width="stretch",
             column_config={"size (Mbit)": st.column_config.NumberColumn(format="%.2f"),
                            "size (% of root)": st.column_config.NumberColumn(format="%.2f"),
                            "device MMACs": st.column_config.NumberColumn(format="%.2f"),
                            "accuracy": st.column_config.NumberColumn(format="%.3f")})
st.download_button("Download table (CSV)", table.to_csv(index=False), "submodels.csv", "text/csv")
