"""The one base of the project's "this field is wrong" errors.

Bad input gets an answer that names the field (design rule 6).  Every error that carries a field
and a message derives from :class:`FieldError`: ``SettingsError`` (energy settings),
``ProfileError`` (charging profiles), ``AuthInputError`` (SendLocalList and other OCPP payloads),
``BehaviourError`` (the test CSMS), ``ScenarioError`` (scenario files), the modbus meter
``ConfigError``.  Code that only needs "which field, what is wrong" catches ``FieldError``.

This module imports nothing of the project, so the pure core and the backends may import it
(``tests/test_architecture.py`` allows exactly that).
"""

from __future__ import annotations


class FieldError(ValueError):
    """``field`` is wrong because of ``message``; ``str()`` is ``"field: message"``.

    ``field`` names the value the way its source spells it (``max_mains_a``,
    ``chargingSchedule.chargingSchedulePeriod[1].limit``, ``steps[3].at``).  Subclasses may
    decorate ``str()`` (a file and line in front, say) but keep ``field`` and ``message`` plain.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
