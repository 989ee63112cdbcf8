"""The energy parts of the scenario schema: errors name file:line and field; a valid document parses."""

from __future__ import annotations

import pytest

from scenarios.loader import ScenarioError
from scenarios.schema import parse_scenario

HEAD = "name: x\ntags: [t]\n"
HOUSE = "chargepoint:\n  sim:\n    house: {base: {points: [[0, 1], [24, 1]]}}\n"

CASES = [
    (HEAD + "chargepoint:\n  energy: {mode: turbo}\n", 4, "chargepoint.energy.mode", "must be one of"),
    (HEAD + "chargepoint:\n  energy: {max_mains_a: 5}\n", 4, "chargepoint.energy.max_mains_a", "10..200"),
    (HEAD + "chargepoint:\n  energy: {colour: red}\n", 4, "chargepoint.energy.colour", "unknown setting"),
    (HEAD + "chargepoint:\n  energy: {mains_meter: api}\n", 4, "chargepoint.energy.mains_meter", "only 'meter'"),
    (HEAD + "chargepoint:\n  energy: {override_current_a: 3}\n", 4, "chargepoint.energy.override_current_a",
     "MinCurrent"),
    (HEAD + "chargepoint:\n  sim:\n    house: {pv: {clouds: 3}}\n", 5, "chargepoint.sim.house", "house.pv.clouds"),
    (HEAD + "chargepoint:\n  sim:\n    house: {garage: 1}\n", 5, "chargepoint.sim.house", "house.garage"),
    (HEAD + "steps:\n  - at: 1\n    load: {name: oven, currents: [1, 1, 1]}\n", 5, "steps[0].load",
     "needs chargepoint.sim.house"),
    (HEAD + HOUSE + "steps:\n  - at: 1\n    load: {name: oven, currents: [1, 1]}\n", 8, "steps[0].load.currents",
     "three phase currents"),
    (HEAD + HOUSE + "steps:\n  - at: 1\n    load: {currents: [1, 1, 1]}\n", 8, "steps[0].load.name", "required"),
    (HEAD + "expect:\n  - state: C2\n    at: 1\n    phases: 2\n", 6, "expect[0].phases", "1 or 3"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), CASES, ids=[c[2] + f"-{i}" for i, c in enumerate(CASES)])
def test_energy_errors_name_file_line_and_field(text: str, line: int, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.yaml")
    err = info.value
    assert (err.file, err.line, err.field) == ("bad.yaml", line, field), str(err)
    assert words in err.message


def test_valid_energy_document_parses() -> None:
    scn = parse_scenario(HEAD + """chargepoint:
  max_current: 16
  sim:
    house: {base: {points: [[0, 1], [24, 1]]}, pv: {peak_w: 5000}, subpanel: true}
  energy: {mode: solar, enable_c2: auto, stop_time_min: 2, ev_meters: true}
steps:
  - {at: 1, load: {name: heat_pump, currents: [12, 12, 12]}}
  - {at: 2, load: {name: washer, currents: [10, 0, 0], subpanel: true}}
expect:
  - {state: C2, at: 3, phases: 1, binding_limit: solar}
""", "good.yaml")
    assert scn.chargepoint.energy == {"mode": "solar", "enable_c2": "auto", "stop_time_min": 2, "ev_meters": True}
    assert scn.chargepoint.sim["house"]["subpanel"] is True
    assert [s.args for s in scn.steps] == [{"name": "heat_pump", "currents": [12.0, 12.0, 12.0], "subpanel": False},
                                           {"name": "washer", "currents": [10.0, 0.0, 0.0], "subpanel": True}]
    assert scn.expectations[0].args["phases"] == 1
