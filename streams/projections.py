"""Pure projections of captures and commands → the Redis writes they cause.

Cases and sensors have their own modules, :mod:`streams.case_projection` and :mod:`streams.sensor_projection`.

No Faust and no Redis here, so the rules are unit-tested directly. The agents feed batches in and
hand the resulting :class:`~streams.effects.Effects` to the writer.
"""

from __future__ import annotations

import orjson

from cityops import keys
from cityops.schemas import OperatorCommand
from streams.effects import Effects


def project_command(cmd: OperatorCommand) -> Effects:
    eff = Effects(cmd.command_id)
    record = {"command_id": cmd.command_id, "action": cmd.action.value, "target_kind": cmd.target_kind,
              "target_id": cmd.target_id, "user": cmd.user, "at": cmd.issued_at.isoformat(),
              "department_id": cmd.department_id, "note": cmd.note}
    eff.xadd(keys.audit(), 10_000_000, orjson.dumps(record).decode())
    return eff
