"""The dashboard's pages: one module each, each with a ``page()`` function (``setup`` draws the sidebar)."""
