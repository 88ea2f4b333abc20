"""BET Studio dashboard — routing and layout only. Run from the repository root:

    streamlit run dashboard/app.py

Pages live in :mod:`dashboard.views`; the background runner in :mod:`dashboard.runner`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import state  # noqa: E402
from dashboard.views import compare, frontier, live, runs, setup, why  # noqa: E402

st.set_page_config(page_title="BET Studio", page_icon=":material/memory:", layout="wide")

PAGES = {
    "live": st.Page(live.page, title="Live run", icon=":material/monitoring:", url_path="live", default=True),
    "frontier": st.Page(frontier.page, title="Frontier", icon=":material/show_chart:", url_path="frontier"),
    "compare": st.Page(compare.page, title="Backbones", icon=":material/view_column:", url_path="backbones"),
    "explain": st.Page(why.page, title="Why this recall?", icon=":material/lightbulb:", url_path="explain"),
    "runs": st.Page(runs.page, title="Runs & export", icon=":material/table_view:", url_path="runs"),
}

state.PAGES.update(PAGES)
nav = st.navigation(list(PAGES.values()), position="top")
setup.sidebar(PAGES["live"])
nav.run()
