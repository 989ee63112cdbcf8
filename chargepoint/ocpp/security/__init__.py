"""OCPP 1.6 security extension (security whitepaper edition 2): security events and the security log,
certificates (roots, the charge point's own key pair, CSR and signed chain), TLS material for the
link, security-profile switching with fallback, GetLog and signed firmware updates.

One file per idea; :mod:`chargepoint.ocpp.security.service` composes them for the OCPP client and
:mod:`chargepoint.ocpp.security.handlers` adds the CSMS -> CP handlers to the session.
"""
