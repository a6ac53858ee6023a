"""The states a case can be in, with their Chinese names: what the read model stores in a case's ``state``.

Why here and not with the state machine (``streams/lifecycle.py``): the read side (exports, the API, the console)
names states too, and it must not depend on the stream processors.
"""

from __future__ import annotations

REPORTED, ACCEPTED, REGISTERED, REJECTED = "reported", "accepted", "registered", "rejected"
DISPATCHED, HANDLED, VERIFIED, REWORKED = "dispatched", "handled", "verified", "reworked"
CLOSED, VOIDED = "closed", "voided"
PARKED = "parked"  # 缓办 / 挂账: approved, its clock stopped, out of the KPI denominators until it resumes

FINAL_STATES = frozenset({REJECTED, CLOSED, VOIDED})
OPEN_STATES = frozenset({REPORTED, ACCEPTED, REGISTERED, DISPATCHED, HANDLED, VERIFIED, REWORKED, PARKED})

STATE_ZH = {
    REPORTED: "已上报", ACCEPTED: "已受理", REGISTERED: "已立案", REJECTED: "不予立案", DISPATCHED: "已派遣",
    HANDLED: "已处置", VERIFIED: "已核查", REWORKED: "返工中", CLOSED: "已结案", VOIDED: "已作废",
    PARKED: "缓办/挂账",
}
