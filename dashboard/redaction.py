"""Text a page may show: no server paths (uploads by the name the user gave them, the rest of the
BET home as ``$BET_HOME``, tracebacks by file name), and nothing that renders as markup."""

from __future__ import annotations

import re

from bet import bet_home
from dashboard.paths import md


def redact(text: str) -> str:
    """``text`` as a page may show it: an uploaded file by the name the user gave it, not where
    the server keeps it (``.../uploads/<hash>/u.data`` → ``u.data``; also the older
    ``<hash>-u.data`` layout), other files of the server's BET home as ``$BET_HOME/…`` (the
    store, the model cache), and only the file name of each frame of a traceback."""
    text = re.sub(re.escape(str(bet_home() / "uploads")) + r"/[0-9a-f]{12}[/-]", "", text)
    text = text.replace(str(bet_home()) + "/", "$BET_HOME/")
    return re.sub(r'File "/[^"]*/([^/"]+)"', r'File ".../\1"', text)


def shown(text: str) -> str:
    """A message for st.error and friends: :func:`redact`-ed, then escaped so that nothing in it
    (a quoted value, a file name) renders as a link, an image or markup."""
    return md(redact(text))
