"""HTTP routes of the test CSMS for the OCPP 1.6 security extension (added by ``http_api.build_app``).

    GET  /api/pki                              the CSMS's test roots (PEM): central_system_root,
                                               manufacturer_root
    GET  /api/cps/{id}/security                CSRs received, CertificateSigned answers, TLS client
                                               certificates seen, security events
    POST /api/cps/{id}/install-certificate     {"certificate_type": "CentralSystemRootCertificate" |
                                               "ManufacturerRootCertificate", "certificate": PEM}
                                               (certificate omitted: the CSMS's own root of that type)
    POST /api/cps/{id}/certificate-signed      {"csr": PEM} (omitted: the last CSR received): sign it
                                               with the test CA and send CertificateSigned
    POST /api/cps/{id}/signed-update           {"location": URL, "request_id": 1, "retrieve_date_time",
                                               "install_date_time", "retries", "retry_interval",
                                               "firmware_base64"}: fetch the image from ``location``
                                               (or take it from the body), sign it with the test
                                               firmware-signing certificate, send SignedUpdateFirmware

ExtendedTriggerMessage, GetLog, GetInstalledCertificateIds and DeleteCertificate go through the
generic ``POST /api/cps/{id}/call``.  Bad bodies get HTTP 400 naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from chargepoint.csms.session import NotConnectedError

if TYPE_CHECKING:
    from chargepoint.csms.server import TestCsms

ROOT_TYPES = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")


def _bad(field: str, message: str) -> web.Response:
    return web.json_response({"error": f"{field}: {message}", "field": field}, status=400)


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as exc:
        return _bad("body", f"not valid JSON ({str(exc)[:200]})")
    if not isinstance(body, dict):
        return _bad("body", "must be a JSON object")
    return body


async def _call(csms: TestCsms, cp_id: str, action: str, payload: dict[str, Any]) -> web.Response:
    try:
        outcome = await csms.call(cp_id, action, payload)
    except NotConnectedError as exc:
        return web.json_response({"error": str(exc), "field": "id"}, status=404)
    return web.json_response(outcome.to_json())


def routes(csms_key: web.AppKey[TestCsms]) -> list[web.RouteDef]:
    async def get_pki(request: web.Request) -> web.Response:
        pki = request.app[csms_key].pki
        return web.json_response({"central_system_root": pki.central_root.pem,
                                  "manufacturer_root": pki.manufacturer_root.pem})

    async def get_security(request: web.Request) -> web.Response:
        csms = request.app[csms_key]
        cp_id = request.match_info["cp_id"]
        events = [n for n in csms.notifications if n["cp_id"] == cp_id and n["action"] == "SecurityEventNotification"]
        return web.json_response({**csms.security_state(cp_id), "security_events": events})

    async def install_certificate(request: web.Request) -> web.Response:
        csms = request.app[csms_key]
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        kind = body.get("certificate_type", "CentralSystemRootCertificate")
        if kind not in ROOT_TYPES:
            return _bad("certificate_type", f"must be one of {', '.join(ROOT_TYPES)}")
        pem = body.get("certificate")
        if pem is None:
            root = csms.pki.central_root if kind == ROOT_TYPES[0] else csms.pki.manufacturer_root
            pem = root.pem
        if not isinstance(pem, str):
            return _bad("certificate", "must be a PEM string")
        return await _call(csms, request.match_info["cp_id"], "InstallCertificate",
                           {"certificateType": kind, "certificate": pem})

    async def certificate_signed(request: web.Request) -> web.Response:
        csms = request.app[csms_key]
        cp_id = request.match_info["cp_id"]
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        csrs = csms.security_state(cp_id)["csrs"]
        csr = body.get("csr", csrs[-1] if csrs else None)
        if not isinstance(csr, str):
            return _bad("csr", "no CSR received from this charge point; give one as PEM")
        try:
            chain = csms.pki.sign_csr(csr)
        except ValueError as exc:
            return _bad("csr", f"cannot be signed: {exc}")
        return await _call(csms, cp_id, "CertificateSigned", {"certificateChain": chain})

    async def signed_update(request: web.Request) -> web.Response:
        csms = request.app[csms_key]
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        location = body.get("location")
        if not isinstance(location, str) or not location:
            return _bad("location", "required: the firmware URL the charge point downloads")
        request_id = body.get("request_id", 1)
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            return _bad("request_id", "must be an integer")
        if "firmware_base64" in body:
            try:
                image = base64.b64decode(str(body["firmware_base64"]), validate=True)
            except (binascii.Error, ValueError):
                return _bad("firmware_base64", "not base64")
        else:
            try:
                async with aiohttp.ClientSession() as http, http.get(location) as resp:
                    if resp.status != 200:
                        return _bad("location", f"HTTP {resp.status} when fetching the image to sign")
                    image = await resp.read()
            except aiohttp.ClientError as exc:
                return _bad("location", f"cannot fetch the image to sign: {exc}")
        signature, certificate = csms.pki.sign_firmware(image)
        firmware: dict[str, Any] = {
            "location": location, "signingCertificate": certificate, "signature": signature,
            "retrieveDateTime": body.get("retrieve_date_time") or csms.clock.now().isoformat(),
        }
        if body.get("install_date_time"):
            firmware["installDateTime"] = body["install_date_time"]
        payload: dict[str, Any] = {"requestId": request_id, "firmware": firmware}
        for key, name in (("retries", "retries"), ("retry_interval", "retryInterval")):
            if key in body:
                payload[name] = body[key]
        return await _call(csms, request.match_info["cp_id"], "SignedUpdateFirmware", payload)

    return [
        web.get("/api/pki", get_pki),
        web.get("/api/cps/{cp_id}/security", get_security),
        web.post("/api/cps/{cp_id}/install-certificate", install_certificate),
        web.post("/api/cps/{cp_id}/certificate-signed", certificate_signed),
        web.post("/api/cps/{cp_id}/signed-update", signed_update),
    ]
