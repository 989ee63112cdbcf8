"""What OCPP *decides*, apart from what it *does*: pure functions and classes, no asyncio, no I/O.

* :mod:`.identity` -- the parentIdTag rule (who may stop, unlock, use a reservation);
* :mod:`.status` -- the StatusNotification status and errorCode of a connector;
* :mod:`.transactions` -- ConnectionTimeOut, StopTransactionOnEVSideDisconnect,
  StopTransactionOnInvalidId and MaxEnergyOnInvalidId, fed with events and configuration keys.

The async shell (``transactions.TransactionManager``, ``status.StatusReporter``) feeds them and
carries out their decisions (persistence, the outbox, the station).
"""
