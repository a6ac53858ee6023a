"""Every command of ``python -m cityops`` can be run: its module declares its arguments and its entry point."""

from __future__ import annotations

import pytest

from cityops.cli import COMMANDS, build_parser, command_module


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_declares_its_arguments_and_its_entry_point(name: str) -> None:
    module = command_module(name)
    assert callable(getattr(module, "add_arguments", None)), f"{COMMANDS[name][0]} has no add_arguments"
    assert callable(getattr(module, "run_from_args", None)), f"{COMMANDS[name][0]} has no run_from_args"
    build_parser([name])  # its arguments are added to the command's own parser without a clash
