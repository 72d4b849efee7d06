// Static checks of an event: what can be refused without reading the ledger
// (`invalid_event`, `placement_out_of_range`). They run before any lookup.
import { DEVICE_LABEL_MAX, PLACEMENT_NOTES_MAX, REPAIR_REASON_MAX } from "../limits";
import { reject, type Rejected } from "../outcome";
import { INSTANCE_PATTERN } from "../timeline";
import { PLACEMENT_RANGES, type Placement, type WireEvent } from "../wire";

/** The key fields that must not be the empty string wherever they appear. */
const KEY_FIELDS = [
  "sessionKey",
  "deviceId",
  "cameraKey",
  "holdId",
  "stillId",
  "ownerDeviceId",
] as const;

function isTime(x: number): boolean {
  return Number.isFinite(x) && x >= 0;
}

/** The checks every event gets, whatever its type. */
export function checkCommon(event: WireEvent): Rejected | null {
  if (!isTime(event.at) || !isTime(event.receivedAt)) {
    return reject(
      "invalid_event",
      "at and receivedAt must be finite epoch milliseconds >= 0",
    );
  }
  if (!INSTANCE_PATTERN.test(event.instance)) {
    return reject(
      "invalid_event",
      "instance must be 1..64 characters of A-Z, a-z, 0-9, _ and -",
    );
  }
  if (!Number.isSafeInteger(event.seq) || event.seq < 0) {
    return reject("invalid_event", "seq must be an integer >= 0");
  }
  const fields = event as unknown as Record<string, unknown>;
  for (const key of KEY_FIELDS) {
    if (key in fields && fields[key] === "") {
      return reject("invalid_event", `${key} must not be empty`);
    }
  }
  if ("fromCameraKey" in event && event.fromCameraKey === "") {
    return reject("invalid_event", "fromCameraKey must not be empty");
  }
  if ("reason" in event && event.reason !== undefined && event.reason.length > REPAIR_REASON_MAX) {
    return reject("invalid_event", `reason is ${event.reason.length} characters, at most ${REPAIR_REASON_MAX}`);
  }
  if (event.type === "rename_device" && (event.label.length < 1 || event.label.length > DEVICE_LABEL_MAX)) {
    return reject("invalid_event", `label must be 1..${DEVICE_LABEL_MAX} characters`);
  }
  if ("hardwareId" in event && event.hardwareId === "") {
    return reject("invalid_event", "hardwareId must not be empty (omit it)");
  }
  if ("clockOffsetMs" in event && event.clockOffsetMs !== undefined) {
    if (!Number.isFinite(event.clockOffsetMs)) {
      return reject("invalid_event", "clockOffsetMs must be finite");
    }
  }
  return null;
}

/** A placement: at least one field, each within its range. */
export function checkPlacement(p: Placement): Rejected | null {
  const present = Object.entries(p).filter(([, x]) => x !== undefined);
  if (present.length === 0) {
    return reject("invalid_event", "placement must have at least one field");
  }
  for (const [field, [lo, hi]] of Object.entries(PLACEMENT_RANGES)) {
    const x = (p as Record<string, unknown>)[field];
    if (x === undefined) continue;
    const n = x as number;
    if (!Number.isFinite(n) || n < lo || n > hi) {
      return reject(
        "placement_out_of_range",
        `placement.${field} = ${n} is outside ${lo}..${hi}`,
      );
    }
  }
  if (p.notes !== undefined && p.notes.length > PLACEMENT_NOTES_MAX) {
    return reject(
      "placement_out_of_range",
      `placement.notes is ${p.notes.length} characters, at most ${PLACEMENT_NOTES_MAX}`,
    );
  }
  return null;
}

/** Each given number, when present, is finite and >= 0. */
export function checkNonNegative(
  fields: Record<string, number | undefined>,
): Rejected | null {
  for (const [name, x] of Object.entries(fields)) {
    if (x !== undefined && !(Number.isFinite(x) && x >= 0)) {
      return reject("invalid_event", `${name} must be a finite number >= 0`);
    }
  }
  return null;
}
