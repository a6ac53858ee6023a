"""The worker's Redis scripts, one ``.lua`` file each beside this module, read once per process.

Why files: Lua inside Python strings has no highlighting, no linting and no line numbers in Redis's
error replies that match anything; a file per script is read, reviewed and diffed as what it is.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def source(name: str) -> str:
    """The text of ``streams/lua/{name}.lua`` (cached: every caller shares one read)."""
    return files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
