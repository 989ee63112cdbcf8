#!/usr/bin/env node
// Independent OCPP 1.6J frame validator for the test suite.
//
// Uses the OCPP 1.6 JSON schemas bundled with the npm package `ocpp-rpc` and that package's own
// validator (ajv draft-07 with ajv-formats, so `format: date-time` IS checked) -- deliberately not
// the Python `ocpp` library's validation, so both sides of a test cannot share one blind spot.
//
// Protocol: one JSON object per line on stdin, one verdict per line on stdout, in order.
//   request: {"id": any, "message_type": 2|3|4, "action": "StatusNotification" | null,
//             "payload": {...}, "direction": "cp->csms" | "csms->cp", "unique_id": "..." (optional)}
//   verdict: {"id": same, "errors": ["...", ...]}          (empty list = valid)
// On start it prints {"ready": true, "package": "ocpp-rpc", "version": "...", "schemas": N}.
"use strict";

const readline = require("node:readline");
const path = require("node:path");

let validator;
let pkgVersion;
let schemaIds;
try {
  const pkgDir = path.dirname(require.resolve("ocpp-rpc/package.json"));
  pkgVersion = require(path.join(pkgDir, "package.json")).version;
  const { createValidator } = require("ocpp-rpc");
  const schemas = require(path.join(pkgDir, "lib", "schemas", "ocpp1_6.json"));
  schemaIds = new Set(schemas.map((s) => s.$id));
  validator = createValidator("ocpp1.6", schemas);
} catch (err) {
  process.stdout.write(JSON.stringify({ ready: false, error: String(err && err.message ? err.message : err) }) + "\n");
  process.exit(2);
}

// Who may initiate which action (OCPP 1.6 §4/§5 plus the security whitepaper edition 2).
const CP_INITIATED = new Set([
  "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
  "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
  "StatusNotification", "StopTransaction",
  "SecurityEventNotification", "SignCertificate", "LogStatusNotification",
  "SignedFirmwareStatusNotification",
]);
const CSMS_INITIATED = new Set([
  "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
  "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
  "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
  "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
  "UnlockConnector", "UpdateFirmware",
  "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds",
  "GetLog", "InstallCertificate", "SignedUpdateFirmware",
]);
// OCPP-J 1.6 §4.2.3 Table 7 (both spellings of the occurrence error are seen in the field).
const ERROR_CODES = new Set([
  "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
  "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
  "TypeConstraintViolation", "GenericError",
]);

function describeAjvErrors(err) {
  const list = err && err.details && Array.isArray(err.details.errors) ? err.details.errors : [];
  if (list.length === 0) {
    return [`${err.rpcErrorCode || "Error"}: ${err.message}`];
  }
  return list.map((e) => {
    const where = e.instancePath || "(payload)";
    const extra = e.params && e.params.allowedValues ? ` (allowed: ${e.params.allowedValues.join(", ")})` : "";
    return `${where} ${e.message}${extra} [${e.keyword}]`;
  });
}

function check(req) {
  const errors = [];
  const { message_type: type, action, payload, direction, unique_id: uniqueId } = req;
  if (direction !== "cp->csms" && direction !== "csms->cp") {
    return [`direction must be "cp->csms" or "csms->cp", got ${JSON.stringify(direction)}`];
  }
  if (uniqueId !== undefined && uniqueId !== null) {
    if (typeof uniqueId !== "string") errors.push("uniqueId must be a string");
    else if (uniqueId.length > 36) errors.push(`uniqueId is ${uniqueId.length} characters, maximum 36`);
  }
  if (type === 4) {
    if (payload === null || typeof payload !== "object") return errors.concat(["CALLERROR body must be an object"]);
    if (!ERROR_CODES.has(payload.errorCode)) errors.push(`errorCode ${JSON.stringify(payload.errorCode)} is not an OCPP-J 1.6 error code`);
    if (typeof payload.errorDescription !== "string") errors.push("errorDescription must be a string");
    const d = payload.errorDetails;
    if (d === null || typeof d !== "object" || Array.isArray(d)) errors.push("errorDetails must be a JSON object");
    return errors;
  }
  if (type !== 2 && type !== 3) {
    return errors.concat([`message_type must be 2 (CALL), 3 (CALLRESULT) or 4 (CALLERROR), got ${JSON.stringify(type)}`]);
  }
  if (typeof action !== "string" || action === "") {
    return errors.concat(["action is required to validate a CALL or CALLRESULT"]);
  }
  const schemaId = `urn:${action}.${type === 2 ? "req" : "conf"}`;
  if (!schemaIds.has(schemaId)) {
    return errors.concat([`${action} is not an OCPP 1.6 action (no schema ${schemaId})`]);
  }
  // A CALL's sender must be allowed to initiate the action; a CALLRESULT answers the other side's CALL.
  const initiator = type === 2 ? direction : direction === "cp->csms" ? "csms->cp" : "cp->csms";
  const allowed = initiator === "cp->csms" ? CP_INITIATED : CSMS_INITIATED;
  if (!allowed.has(action)) {
    const who = initiator === "cp->csms" ? "the charge point" : "the central system";
    errors.push(`${action} may not be initiated by ${who}`);
  }
  try {
    validator.validate(schemaId, payload);
  } catch (err) {
    for (const line of describeAjvErrors(err)) errors.push(`${schemaId}: ${line}`);
  }
  return errors;
}

process.stdout.write(JSON.stringify({ ready: true, package: "ocpp-rpc", version: pkgVersion, schemas: schemaIds.size }) + "\n");

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.trim() === "") return;
  let req;
  let verdict;
  try {
    req = JSON.parse(line);
  } catch (err) {
    process.stdout.write(JSON.stringify({ id: null, errors: [`request is not JSON: ${err.message}`] }) + "\n");
    return;
  }
  try {
    verdict = { id: req.id === undefined ? null : req.id, errors: check(req) };
  } catch (err) {
    verdict = { id: req.id === undefined ? null : req.id, errors: [`validator crashed: ${err.stack || err}`] };
  }
  process.stdout.write(JSON.stringify(verdict) + "\n");
});
rl.on("close", () => process.exit(0));
