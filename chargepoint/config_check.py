"""Checks of the configuration parts that their own modules own: the backend name (registry), the
``[sim]`` and ``[energy]`` tables and every ``[[meters]]`` table.  ``chargepoint run`` and
``chargepoint config --check`` run them before anything starts, so a bad value is one line naming
the key -- never a traceback after the charger has half started."""

from __future__ import annotations

from dataclasses import fields

from chargepoint.config import Config, ConfigError


def check_components(config: Config) -> None:
    _check_backend(config)
    _check_sim(config)
    _check_energy(config)
    check_meters(config)


def _check_backend(config: Config) -> None:
    from backends import registry

    names = registry.available()
    if config.backend.name not in names:
        raise ConfigError("backend.name", f"unknown backend; available: {', '.join(sorted(names))}",
                          value=repr(config.backend.name))


def _check_sim(config: Config) -> None:
    if not config.sim:
        return
    from backends.sim.options import SimOptions

    known = {f.name for f in fields(SimOptions)} | {"house"}
    for key in config.sim:
        if key not in known:
            raise ConfigError(f"sim.{key}", f"unknown key; known: {', '.join(sorted(known))}")
    if config.backend.name != "sim":
        return
    from chargepoint.runtime import backend_options

    try:
        SimOptions.from_mapping(backend_options(config))
    except ValueError as exc:
        raise ConfigError("[sim]", str(exc)) from None
    if config.sim.get("house") is not None:
        from backends.sim.house import parse_house_options

        try:
            parse_house_options(config.sim["house"])
        except (ValueError, TypeError) as exc:
            raise ConfigError("sim.house", str(exc)) from None


def _check_energy(config: Config) -> None:
    from chargepoint.services.energy import parse_energy_table

    try:
        parse_energy_table(config.energy, max_current_a=config.controller.max_current_a,
                           min_current_a=config.controller.min_current_a)
    except ValueError as exc:
        field = getattr(exc, "field", None)
        where = f"energy.{field}" if field else "[energy]"
        raise ConfigError(where, str(exc)) from None


def check_meters(config: Config) -> None:
    """Build each ``[[meters]]`` table's meter once (nothing is opened) so a bad one is a ConfigError."""
    if not config.meters:
        return
    from backends.modbus import create_meter
    from chargepoint.clock import RealClock

    for i, table in enumerate(config.meters):
        try:
            create_meter(RealClock(), table)
        except ValueError as exc:
            raise ConfigError(f"meters[{i}]", str(exc), note=f"{table.get('role', 'ev')} meter") from None
