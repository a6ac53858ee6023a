"""The Redis scripts of ``cityops`` itself (sign-in limits, the key migration), one ``.lua`` file each beside this
module, read once per process.

Why here and not in :mod:`streams.lua`: nothing under ``cityops`` imports ``streams``; the worker's scripts live
there, these are the console's and the tools'.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def source(name: str) -> str:
    """The text of ``cityops/lua/{name}.lua`` (cached: every caller shares one read)."""
    return files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
