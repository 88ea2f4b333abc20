"""BET Studio's dashboard: a Streamlit reader of the run store plus a thin background runner.

``streamlit run dashboard/app.py`` (from the repository root). Only :mod:`dashboard.app`,
:mod:`dashboard.state` and :mod:`dashboard.views` import streamlit; :mod:`dashboard.runner`,
:mod:`dashboard.charts`, :mod:`dashboard.queries` and :mod:`dashboard.settings` are plain Python.
"""
