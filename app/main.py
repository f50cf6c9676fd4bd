"""Entry point: page config, the shared sidebar, and navigation. Run: streamlit run app/main.py"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the project root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import present, services  # noqa: E402
from app.controls import sidebar  # noqa: E402

st.set_page_config(page_title="In-situ model downloading", page_icon=str(ROOT / "app" / "static" / "icon.png"), layout="wide")

# The default page is served at "/" (Streamlit gives it the empty path); the hidden page below draws it at its own
# address too, so that a shared link to /submodels works (tests/test_offline.py).
PAGES = [
    st.Page("views/submodels.py", title="Sub-models", icon=":material/extension:", default=True, url_path="start"),
    st.Page("views/submodels.py", title="Sub-models", icon=":material/extension:", url_path="submodels",
            visibility="hidden"),
    st.Page("views/live.py", title="Live accuracy", icon=":material/network_check:", url_path="live"),
    st.Page("views/library.py", title="AI library", icon=":material/inventory_2:", url_path="library"),
    st.Page("views/rates.py", title="Rate requirements", icon=":material/speed:", url_path="rates"),
    st.Page("views/mobility.py", title="Predictive downloads", icon=":material/map:", url_path="mobility"),
    st.Page("views/federated.py", title="Improve together", icon=":material/groups:", url_path="federated"),
    st.Page("views/guide.py", title="Guide", icon=":material/school:", url_path="guide"),
]

services.forget_replaced_roots()  # a root file replaced under the same name: no cached value of the old one
nav = st.navigation(PAGES)
present.init_from_url()  # before the sidebar rewrites the URL
sidebar()
present.apply(page_has_toggle=nav.url_path == "guide")  # the Guide has its own, beside Next
if nav.url_path != "guide" and "step" in st.query_params:  # the story's step belongs to the Guide's link only
    del st.query_params["step"]
nav.run()
