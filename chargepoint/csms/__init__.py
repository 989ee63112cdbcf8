"""A small scriptable OCPP 1.6J central system for tests, scenarios and manual experiments."""

from chargepoint.csms.behaviour import Behaviour, BehaviourError, ForcedError
from chargepoint.csms.frames import IN, OUT, Frame, FrameLog
from chargepoint.csms.server import TestCsms, check_basic_auth, cp_id_from_path
from chargepoint.csms.session import CallOutcome, CsmsSession, NotConnectedError

__all__ = [
    "IN",
    "OUT",
    "Behaviour",
    "BehaviourError",
    "CallOutcome",
    "CsmsSession",
    "ForcedError",
    "Frame",
    "FrameLog",
    "NotConnectedError",
    "TestCsms",
    "check_basic_auth",
    "cp_id_from_path",
]
