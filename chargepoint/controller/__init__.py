"""IEC 61851-1 controller: pure, synchronous, no I/O.  See docs/ARCHITECTURE.md for the contract."""
