"""BET Studio dashboard — routing and layout only. Start it with ``make run``, or from any folder:

    python dashboard/app.py [more streamlit flags]

which serves it on 127.0.0.1 without usage statistics (:data:`SAFE_FLAGS`; a later flag such as
``--server.address 0.0.0.0`` overrides, deliberately). A bare ``streamlit run dashboard/app.py``
reads ``.streamlit/config.toml`` only when started from the repository root; elsewhere it binds
every interface, and the page says so.

Pages live in :mod:`dashboard.views`; the client of the engine's executor in :mod:`dashboard.runner`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from streamlit import config as st_config  # noqa: E402
from streamlit.runtime.scriptrunner import get_script_run_ctx  # noqa: E402

#: What the entry point passes to Streamlit, wherever it is started from.
SAFE_FLAGS = (
    "--server.address",
    "127.0.0.1",
    "--browser.gatherUsageStats",
    "false",
    "--server.headless",
    "true",
    "--server.fileWatcherType",
    "none",
    "--client.showErrorDetails",
    "type",
    "--server.maxUploadSize",
    "200",
    "--runner.postScriptGC",
    "false",
)


def launch() -> int:
    """``python dashboard/app.py``: serve this file with :data:`SAFE_FLAGS` (then the caller's flags)."""
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(Path(__file__).resolve()), *SAFE_FLAGS, *sys.argv[1:]]
    return int(cli.main() or 0)


if __name__ == "__main__" and get_script_run_ctx(suppress_warning=True) is None:
    sys.exit(launch())  # plain `python dashboard/app.py`, not a Streamlit script run

from dashboard import state  # noqa: E402
from dashboard.views import backbones, frontier, live, runs, setup, study, why_recall  # noqa: E402

#: The tab's icon, served by this server: a ``:material/…:`` or emoji icon is fetched from Google's
#: or a CDN's servers by the browser (a private dashboard makes no outside request).
ICON = Path(__file__).resolve().parent / "icon.svg"
st.set_page_config(page_title="BET Studio", page_icon=str(ICON), layout="wide")
# Error types, never stack traces, in the page (whatever config file was or was not read).
st.set_option("client.showErrorDetails", "type")
if not st_config.is_manually_set("server.address"):
    st.sidebar.warning(
        "This server listens on every network interface and reports usage statistics (it was started "
        "without .streamlit/config.toml). Restart it with `make run` or `python dashboard/app.py`."
    )

PAGES = {
    "live": st.Page(live.page, title="Live run", icon=":material/monitoring:", url_path="live", default=True),
    "frontier": st.Page(frontier.page, title="Frontier", icon=":material/show_chart:", url_path="frontier"),
    "compare": st.Page(backbones.page, title="Backbones", icon=":material/view_column:", url_path="backbones"),
    "explain": st.Page(why_recall.page, title="Why this recall?", icon=":material/lightbulb:", url_path="explain"),
    "runs": st.Page(runs.page, title="Runs & export", icon=":material/table_view:", url_path="runs"),
}

state.PAGES.update(PAGES)
nav = st.navigation(list(PAGES.values()), position="top")
later: list = []
setup.sidebar(PAGES["live"], later)
study.banner()  # a recorded study is open: every page says so, and how to return to the live store
nav.run()
for draw in later:  # the sidebar's duration estimate, drawn into its place after the page
    draw()
