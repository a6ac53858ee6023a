"""The Streamlit entry script of the console: runs ``dashboard/app.py`` afresh on every rerun.

Why a separate entry folder: a ``pages/`` folder *beside* the entry script switches Streamlit to its
legacy multipage mode until ``st.navigation`` is first called in the process, and in that mode a
URL such as ``/briefing`` runs ``pages/briefing.py`` directly, skipping the sign-in in ``app.py``
(seen with AppTest, which resets that mode on every run). Here there is no ``pages/`` folder beside
the entry script, so every request goes through ``app.py``'s sign-in and role checks.
"""

from __future__ import annotations

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent.parent / "app.py"), run_name="__main__")
