"""BET Studio's dashboard: a Streamlit reader of the run store and a client of the engine's process
executor (:mod:`dashboard.runner` over :class:`bet.ProcessExecutor`).

``streamlit run dashboard/app.py`` (from the repository root). Only :mod:`dashboard.app`,
:mod:`dashboard.state` and :mod:`dashboard.views` import streamlit; :mod:`dashboard.runner`,
:mod:`dashboard.charts`, :mod:`dashboard.queries` and :mod:`dashboard.settings` are plain Python.
"""
