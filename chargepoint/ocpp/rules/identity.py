"""The parentIdTag rule (OCPP 1.6 §3.5.4, §5.13): an idTag acts for another one when it is the
same idTag, or when both carry the same (non-empty) parentIdTag."""

from __future__ import annotations


def same_group(owner: str, owner_parent: str | None, presented: str, presented_parent: str | None) -> bool:
    """May ``presented`` act for ``owner`` (stop its transaction, release its cable, use its
    reservation)?  Parents that are not known are ``None``."""
    if presented == owner:
        return True
    return bool(owner_parent) and presented_parent == owner_parent
