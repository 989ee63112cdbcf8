"""OpenAPI 3.1 description of the local API (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
    "required": ["error"],
}


def _post(summary: str, schema: dict[str, Any] | None, *, sim: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "bad body; `field` names the culprit",
                    "content": {"application/json": {"schema": _ERROR}}},
        },
    }
    if sim:
        op["responses"]["404"] = {"description": "not the sim backend, or no such connector"}
    if schema is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": schema}}}
    return {"post": op}


_CONNECTOR_PARAM = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]

_CONNECTOR_STATUS = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "iec_state": {"enum": ["A", "B", "C", "D", "E", "F"]},
        "status": {"type": "string", "description": "OCPP ChargePointStatus"},
        "offered_current_a": {"type": "number"},
        "current_a": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
        "contactor_closed": {"type": "boolean"},
        "transaction_id": {"type": ["integer", "null"]},
        "energy_wh": {"type": "number"},
        "limit_a": {"type": ["number", "null"]},
        "binding_limit": {"type": "string"},
    },
    "required": ["id", "iec_state", "status", "offered_current_a", "current_a", "contactor_closed",
                 "transaction_id", "energy_wh", "limit_a"],
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "smartevse-chargepoint local API", "version": "1"},
    "paths": {
        "/api/status": {
            "get": {
                "summary": "OCPP connection and per-connector state",
                "responses": {
                    "200": {
                        "description": "status",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "ocpp": {
                                            "type": "object",
                                            "properties": {
                                                "connected": {"type": "boolean"},
                                                "registration": {"type": "string"},
                                            },
                                        },
                                        "connectors": {"type": "array", "items": _CONNECTOR_STATUS},
                                    },
                                    "required": ["ocpp", "connectors"],
                                }
                            }
                        },
                    }
                },
            }
        },
        "/api/sim/connectors/{id}/plug": {
            **_post("plug the simulated EV in", {
                "type": "object", "additionalProperties": False,
                "properties": {"cable_a": {"type": "number", "minimum": 6, "maximum": 80}},
            }),
            "parameters": _CONNECTOR_PARAM,
        },
        "/api/sim/connectors/{id}/unplug": {**_post("unplug the simulated EV", None),
                                            "parameters": _CONNECTOR_PARAM},
        "/api/sim/connectors/{id}/ev": {
            **_post("change what the simulated EV does", {
                "type": "object", "additionalProperties": False, "minProperties": 1,
                "properties": {
                    "charging": {"type": "boolean"},
                    "max_current_a": {"type": "number", "minimum": 0, "maximum": 80},
                    "phases": {"enum": [1, 3]},
                    "soc": {"type": "number", "minimum": 0, "maximum": 100},
                    "capacity_kwh": {"type": "number", "minimum": 1, "maximum": 300},
                },
            }),
            "parameters": _CONNECTOR_PARAM,
        },
        "/api/sim/rfid": _post("present an RFID card", {
            "type": "object", "additionalProperties": False, "required": ["id_tag"],
            "properties": {"id_tag": {"type": "string", "minLength": 1, "maxLength": 20},
                           "connector": {"type": "integer", "minimum": 0}},
        }),
        "/api/connectors/{id}/reset-fault": {
            **_post("operator reset of a latched fault (409 while its cause persists)", {
                "type": "object", "additionalProperties": False, "required": ["fault"],
                "properties": {"fault": {"enum": ["rcd", "weld", "contactor", "lock", "diode"]}},
            }, sim=False),
            "parameters": _CONNECTOR_PARAM,
        },
        "/api/sim/faults": _post("inject or clear a hardware fault", {
            "type": "object", "additionalProperties": False, "required": ["connector", "fault", "active"],
            "properties": {
                "connector": {"type": "integer", "minimum": 1},
                "fault": {"enum": ["rcd", "overtemp", "weld", "lock", "meter", "diode", "contactor",
                                   "pilot_short", "panic"]},
                "active": {"type": "boolean"},
            },
        }),
    },
}


# --------------------------------------------------------------------------- energy manager
_CURRENT_A = {"type": "number", "minimum": -199.9, "maximum": 199.9}

_ENERGY_SETTINGS = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "mode": {"enum": ["normal", "smart", "solar"]},
        "override_current_a": {"type": ["number", "null"],
                               "description": "MinCurrent..MaxCurrent or null (off); refused in solar mode; "
                                              "one more min term: never above an OCPP limit"},
        "max_mains_a": {"type": "integer", "minimum": 10, "maximum": 200},
        "max_circuit_a": {"type": "integer", "minimum": 10, "maximum": 160},
        "max_sum_mains_a": {"type": "integer", "minimum": 0, "maximum": 600, "description": "0 = off, else 10..600"},
        "max_sum_mains_time_min": {"type": "integer", "minimum": 0, "maximum": 60},
        "start_current_a": {"type": "integer", "minimum": 0, "maximum": 48},
        "stop_time_min": {"type": "integer", "minimum": 0, "maximum": 60},
        "import_current_a": {"type": "integer", "minimum": 0, "maximum": 48},
        "enable_c2": {"enum": ["not_present", "always_off", "solar_off", "always_on", "auto"]},
        "grid_relay_max_sum_mains_a": {"type": "integer", "minimum": 6, "maximum": 600,
                                       "description": "GridRelayMaxSumMains: A summed over the phases while "
                                                      "the grid relay limits (EnWG §14a)"},
    },
}

OPENAPI["paths"].update({
    "/api/settings": {
        "get": {"summary": "energy settings (persisted)",
                "responses": {"200": {"description": "settings",
                                      "content": {"application/json": {"schema": _ENERGY_SETTINGS}}}}},
        "post": {**_post("change energy settings (any subset; all or nothing)",
                         {**_ENERGY_SETTINGS, "minProperties": 1}, sim=False)["post"]},
    },
    "/api/mains": _post("mains currents for a mains meter of type api (A, import positive); 409 otherwise", {
        "type": "object", "additionalProperties": False, "required": ["l1", "l2", "l3"],
        "properties": {"l1": _CURRENT_A, "l2": _CURRENT_A, "l3": _CURRENT_A},
    }, sim=False),
    "/api/ev-meter": _post("EV circuit meter readings (A per phase; optional W, Wh)", {
        "type": "object", "additionalProperties": False, "required": ["l1", "l2", "l3"],
        "properties": {"l1": _CURRENT_A, "l2": _CURRENT_A, "l3": _CURRENT_A,
                       "power_w": {"type": "number"}, "energy_wh": {"type": "number", "minimum": 0}},
    }, sim=False),
    "/api/battery": _post("home battery current (A, + = charging; Solar mode only, valid 60 s)", {
        "type": "object", "additionalProperties": False, "required": ["current_a"],
        "properties": {"current_a": _CURRENT_A},
    }, sim=False),
    "/api/energy": {
        "get": {"summary": "the energy manager's last decision: binding limit and why, timers, faults",
                "responses": {"200": {"description": "energy status",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}},
    },
})


# --------------------------------------------------------------------------- grid relay, phases (issue 12.5)
_GRID_RELAY_BODY = {
    "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
    "properties": {"limiting": {"type": "boolean", "description": "the grid operator limits (EnWG §14a)"},
                   "contact": {"enum": ["open", "closed"],
                               "description": "the relay contact; limits when it is [energy] grid_relay_limit_on "
                                              "(default open, like the firmware)"}},
}
_CONFLICT = {"description": "not possible on this charger; `error` says why",
             "content": {"application/json": {"schema": _ERROR}}}


def _get(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "state", "content": {
        "application/json": {"schema": {"type": "object"}}}}}}}


OPENAPI["paths"].update({
    "/api/grid-relay": {
        **_get("the grid relay: limiting, GridRelayMaxSumMains, the grid_relay limit per connector"),
        **_post("the grid relay as read by something else (home automation reading the control box)",
                _GRID_RELAY_BODY, sim=False),
    },
    "/api/sim/grid-relay": _post("the simulated board's grid-relay input", _GRID_RELAY_BODY),
    "/api/phases": {
        **_get("the manual 1-/3-phase request, whether this charger can switch, phases per connector"),
        "post": {**_post("request 1 or 3 phases (null withdraws the request); applied with the contactors "
                         "open (C -> C1 -> B1 -> C)", {
                             "type": "object", "additionalProperties": False, "required": ["phases"],
                             "properties": {"phases": {"enum": [1, 3, None]}}}, sim=False)["post"]},
    },
})
OPENAPI["paths"]["/api/phases"]["post"]["responses"]["409"] = _CONFLICT


# --------------------------------------------------------------------------- RFID reader modes (issue 12.5)
_UID = {"type": "string", "minLength": 1, "maxLength": 20, "description": "card id (stored upper case)"}
OPENAPI["paths"].update({
    "/api/rfid": _get("RFID reader: mode, the card list, access per connector (AccessTimer), learning window"),
    "/api/rfid/cards": {
        "post": {**_post("learn a card by its id (409 when the list holds 100 cards)", {
            "type": "object", "additionalProperties": False, "required": ["uid"], "properties": {"uid": _UID}},
            sim=False)["post"]},
        "delete": {"summary": "delete every card (access they hold ends)",
                   "responses": {"200": {"description": "done"}}},
    },
    "/api/rfid/cards/{uid}": {
        "delete": {"summary": "delete one card (access it holds ends)",
                   "responses": {"200": {"description": "done"},
                                 "404": {"description": "not on the list",
                                         "content": {"application/json": {"schema": _ERROR}}}}},
        "parameters": [{"name": "uid", "in": "path", "required": True, "schema": _UID}],
    },
    "/api/rfid/learn": {"post": {**_post("arm learning / deleting by presenting cards for 60 s (null disarms); "
                                         "409 in mode ocpp", {
                                             "type": "object", "additionalProperties": False,
                                             "required": ["action"],
                                             "properties": {"action": {"enum": ["learn", "delete", None]}}},
                                         sim=False)["post"]}},
})
OPENAPI["paths"]["/api/rfid/cards"]["post"]["responses"]["409"] = _CONFLICT
OPENAPI["paths"]["/api/rfid/learn"]["post"]["responses"]["409"] = _CONFLICT
