"""Access control on the charger itself: the SmartEVSE RFID reader's modes (pure, ``rfid_reader``)."""

from chargepoint.access.rfid_reader import (
    ACCESS_TIMER_S,
    MAX_CARDS,
    CardError,
    CardListFull,
    Decision,
    Deleted,
    Grant,
    Learned,
    ReaderMode,
    Refused,
    Revoke,
    RfidReader,
    UnknownCard,
    normalize_uid,
)

__all__ = ["ACCESS_TIMER_S", "MAX_CARDS", "CardError", "CardListFull", "Decision", "Deleted", "Grant", "Learned", "ReaderMode",
           "Refused", "Revoke", "RfidReader", "UnknownCard", "normalize_uid"]
