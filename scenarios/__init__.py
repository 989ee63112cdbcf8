"""Scenario replay: timelines of EV, hardware and CSMS events with expectations, run in virtual time."""
