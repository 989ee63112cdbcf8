"""Validation of the security extension's configuration keys (used by ``config_keys``)."""

from __future__ import annotations

#: X.520 ub-organization-name: CpoName becomes the O attribute of the charge point certificate's CSR
CPO_NAME_MAX = 64


def cpo_name_check(value: str) -> str | None:
    if len(value) > CPO_NAME_MAX:
        return f"CpoName longer than {CPO_NAME_MAX} characters (X.509 organizationName)"
    if any(not ch.isprintable() for ch in value):
        return "CpoName must be printable text"
    return None
