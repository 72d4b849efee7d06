// `ingest:applyBatch`: the one write path of the ledger.
// Exact contract: migrations-notes/0001-ledger-schema-and-wire.md.
//
// Every event of a batch is applied in order in the one transaction of the
// mutation. Each event gets exactly one verdict. A rejection is a returned
// value, never an exception: every check of an event runs before its first
// write, so a rejected event writes nothing but its receipt, and the events
// after it still run. The mutation throws only on a caller bug (batch size) or
// a ledger bug.
import { v } from "convex/values";
import { internalMutation, type MutationCtx } from "./_generated/server";
import type { Doc, Id } from "./_generated/dataModel";
import {
  MAX_BATCH,
  PLACEMENT_NOTES_MAX,
  PLACEMENT_RANGES,
  verdict as verdictValidator,
  wireEvent,
  type Placement,
  type RejectionCode,
  type Verdict,
  type WireEvent,
} from "./wire";

type EventOf<T extends WireEvent["type"]> = Extract<WireEvent, { type: T }>;

type Applied = {
  verdict: "applied";
  sequence?: number;
  ledgerIds: Record<string, string>;
};
type Rejected = { verdict: "rejected"; code: RejectionCode; message: string };
type Outcome = Applied | Rejected;

const EVENT_ID_MAX = 200;

function reject(code: RejectionCode, message: string): Rejected {
  return { verdict: "rejected", code, message };
}

export const applyBatch = internalMutation({
  args: { events: v.array(wireEvent) },
  returns: v.object({ verdicts: v.array(verdictValidator) }),
  handler: async (ctx, { events }) => {
    if (events.length < 1 || events.length > MAX_BATCH) {
      throw new Error(
        `applyBatch takes 1..=${MAX_BATCH} events, got ${events.length}`,
      );
    }
    const appliedAt = Date.now();
    const verdicts: Verdict[] = [];
    for (const event of events) {
      verdicts.push(await applyOne(ctx, event, appliedAt));
    }
    return { verdicts };
  },
});

async function applyOne(
  ctx: MutationCtx,
  event: WireEvent,
  appliedAt: number,
): Promise<Verdict> {
  const { eventId } = event;
  if (eventId.length === 0 || eventId.length > EVENT_ID_MAX) {
    // No receipt: an empty or oversized id cannot key one.
    return {
      eventId,
      verdict: "rejected",
      code: "invalid_event",
      message: `eventId must be 1..${EVENT_ID_MAX} characters`,
    };
  }

  const receipt = await ctx.db
    .query("ingestReceipts")
    .withIndex("by_eventId", (q) => q.eq("eventId", eventId))
    .unique();
  if (receipt !== null) {
    const dup: Verdict = {
      eventId,
      verdict: "duplicate",
      original: receipt.verdict,
    };
    if (receipt.code !== undefined) dup.code = receipt.code;
    if (receipt.message !== undefined) dup.message = receipt.message;
    if (receipt.sequence !== undefined) dup.sequence = receipt.sequence;
    if (receipt.ledgerIds !== undefined) dup.ledgerIds = receipt.ledgerIds;
    return dup;
  }

  const outcome = await dispatch(ctx, event, appliedAt);

  await ctx.db.insert("ingestReceipts", {
    eventId,
    type: event.type,
    verdict: outcome.verdict,
    ...(outcome.verdict === "rejected"
      ? { code: outcome.code, message: outcome.message }
      : {
          ledgerIds: outcome.ledgerIds,
          ...(outcome.sequence !== undefined
            ? { sequence: outcome.sequence }
            : {}),
        }),
    ...("sessionKey" in event ? { sessionKey: event.sessionKey } : {}),
    ...("deviceId" in event ? { deviceId: event.deviceId } : {}),
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt,
  });

  if (outcome.verdict === "rejected") {
    return {
      eventId,
      verdict: "rejected",
      code: outcome.code,
      message: outcome.message,
    };
  }
  const ok: Verdict = {
    eventId,
    verdict: "applied",
    ledgerIds: outcome.ledgerIds,
  };
  if (outcome.sequence !== undefined) ok.sequence = outcome.sequence;
  return ok;
}

async function dispatch(
  ctx: MutationCtx,
  event: WireEvent,
  now: number,
): Promise<Outcome> {
  const bad = checkCommon(event);
  if (bad) return bad;
  switch (event.type) {
    case "start_shoot":
      return startShoot(ctx, event, now);
    case "complete_session":
      return completeSession(ctx, event, now);
    case "register_device":
      return registerDevice(ctx, event, now);
    case "join_session":
      return joinSession(ctx, event, now);
    case "update_placement":
      return updatePlacement(ctx, event, now);
    case "cut":
      return cut(ctx, event, now);
    case "hold_start":
      return holdStart(ctx, event, now);
    case "hold_end":
      return holdEnd(ctx, event, now);
    case "cue":
      return simpleDirectorEvent(ctx, event, now);
    case "marker":
      return simpleDirectorEvent(ctx, event, now);
    case "note":
      return simpleDirectorEvent(ctx, event, now);
    case "still_marker":
      return stillMarker(ctx, event, now);
    case "still_uploaded":
      return stillUploaded(ctx, event, now);
    default: {
      const never: never = event;
      throw new Error(`unhandled event type ${JSON.stringify(never)}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Static checks (no ledger state): invalid_event, placement_out_of_range.

const KEY_FIELDS = [
  "sessionKey",
  "deviceId",
  "cameraKey",
  "holdId",
  "stillId",
] as const;

function isTime(x: number): boolean {
  return Number.isFinite(x) && x >= 0;
}

function checkCommon(event: WireEvent): Rejected | null {
  if (!isTime(event.at) || !isTime(event.receivedAt)) {
    return reject(
      "invalid_event",
      "at and receivedAt must be finite epoch milliseconds >= 0",
    );
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

function checkPlacement(p: Placement): Rejected | null {
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

function checkNonNegative(
  fields: Record<string, number | undefined>,
): Rejected | null {
  for (const [name, x] of Object.entries(fields)) {
    if (x !== undefined && !(Number.isFinite(x) && x >= 0)) {
      return reject("invalid_event", `${name} must be a finite number >= 0`);
    }
  }
  return null;
}

// ---------------------------------------------------------------------------
// Ledger lookups.

function getSession(ctx: MutationCtx, sessionKey: string) {
  return ctx.db
    .query("productionSessions")
    .withIndex("by_sessionKey", (q) => q.eq("sessionKey", sessionKey))
    .unique();
}

/** The session, if it exists and is live; otherwise the rejection. */
async function liveSession(
  ctx: MutationCtx,
  sessionKey: string,
): Promise<Doc<"productionSessions"> | Rejected> {
  const session = await getSession(ctx, sessionKey);
  if (session === null) {
    return reject("session_not_found", `session ${sessionKey} does not exist`);
  }
  if (session.status === "completed") {
    return reject(
      "session_completed",
      `session ${sessionKey} is completed; it takes no more writes`,
    );
  }
  return session;
}

function isRejected<T>(x: T | Rejected): x is Rejected {
  return (
    typeof x === "object" &&
    x !== null &&
    (x as { verdict?: unknown }).verdict === "rejected"
  );
}

function getCamera(ctx: MutationCtx, sessionKey: string, cameraKey: string) {
  return ctx.db
    .query("productionCameras")
    .withIndex("by_session_camera", (q) =>
      q.eq("sessionKey", sessionKey).eq("cameraKey", cameraKey),
    )
    .unique();
}

async function cameraInSession(
  ctx: MutationCtx,
  sessionKey: string,
  cameraKey: string,
): Promise<Doc<"productionCameras"> | Rejected> {
  const camera = await getCamera(ctx, sessionKey, cameraKey);
  if (camera === null) {
    return reject(
      "camera_not_in_session",
      `camera ${cameraKey} has not joined session ${sessionKey}`,
    );
  }
  return camera;
}

function getDevice(ctx: MutationCtx, deviceId: string) {
  return ctx.db
    .query("productionDevices")
    .withIndex("by_deviceId", (q) => q.eq("deviceId", deviceId))
    .unique();
}

function openHold(ctx: MutationCtx, sessionKey: string, holdId: string) {
  return ctx.db
    .query("productionDirectorEvents")
    .withIndex("by_session_hold", (q) =>
      q.eq("sessionKey", sessionKey).eq("holdId", holdId).eq("holdOpen", true),
    )
    .first();
}

/** Bump a device's lastSeenAt (service clock), never moving it backwards. */
async function touchDevice(
  ctx: MutationCtx,
  device: Doc<"productionDevices">,
  receivedAt: number,
) {
  if (receivedAt > device.lastSeenAt) {
    await ctx.db.patch(device._id, { lastSeenAt: receivedAt });
  }
}

type DirectorFields = Omit<
  Doc<"productionDirectorEvents">,
  | "_id"
  | "_creationTime"
  | "eventId"
  | "sessionKey"
  | "sequence"
  | "at"
  | "receivedAt"
  | "appliedAt"
>;

/**
 * Insert a director event with the session's next sequence number and apply
 * `sessionPatch` in the same patch of the session row.
 */
async function insertDirectorEvent(
  ctx: MutationCtx,
  session: Doc<"productionSessions">,
  event: WireEvent,
  now: number,
  fields: DirectorFields,
  sessionPatch: Partial<Doc<"productionSessions">> = {},
): Promise<{ id: Id<"productionDirectorEvents">; sequence: number }> {
  const sequence = session.lastSequence + 1;
  const id = await ctx.db.insert("productionDirectorEvents", {
    eventId: event.eventId,
    sessionKey: session.sessionKey,
    sequence,
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt: now,
    ...fields,
  });
  await ctx.db.patch(session._id, {
    ...sessionPatch,
    lastSequence: sequence,
    updatedAt: now,
  });
  return { id, sequence };
}

// ---------------------------------------------------------------------------
// Lifecycle.

async function startShoot(
  ctx: MutationCtx,
  event: EventOf<"start_shoot">,
  now: number,
): Promise<Outcome> {
  const session = await getSession(ctx, event.sessionKey);
  if (session === null) {
    const id = await ctx.db.insert("productionSessions", {
      sessionKey: event.sessionKey,
      kind: "photoshoot_performance",
      status: "live",
      title: event.title,
      ...(event.notes !== undefined ? { notes: event.notes } : {}),
      ...(event.location !== undefined ? { location: event.location } : {}),
      startedAt: event.at,
      startedReceivedAt: event.receivedAt,
      startEventId: event.eventId,
      updatedAt: now,
      lastSequence: 0,
      counts: { cameras: 0, cuts: 0, holds: 0, stills: 0, cues: 0 },
    });
    return { verdict: "applied", ledgerIds: { productionSessions: id } };
  }
  if (session.status === "completed") {
    return reject(
      "session_completed",
      `session ${event.sessionKey} is completed; it cannot be started again`,
    );
  }
  await ctx.db.patch(session._id, {
    title: event.title,
    ...(event.notes !== undefined ? { notes: event.notes } : {}),
    ...(event.location !== undefined ? { location: event.location } : {}),
    updatedAt: now,
  });
  return { verdict: "applied", ledgerIds: { productionSessions: session._id } };
}

async function completeSession(
  ctx: MutationCtx,
  event: EventOf<"complete_session">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;

  const open = await ctx.db
    .query("productionDirectorEvents")
    .withIndex("by_session_holdOpen", (q) =>
      q.eq("sessionKey", session.sessionKey).eq("holdOpen", true),
    )
    .collect();
  for (const hold of open) {
    await ctx.db.patch(hold._id, {
      holdOpen: false,
      holdClosedAt: event.at,
      holdClosedBy: "complete_session",
      holdCloseEventId: event.eventId,
    });
  }

  const cameras = await ctx.db
    .query("productionCameras")
    .withIndex("by_session_camera", (q) =>
      q.eq("sessionKey", session.sessionKey),
    )
    .collect();
  for (const camera of cameras) {
    if (camera.live) await ctx.db.patch(camera._id, { live: false });
  }

  await ctx.db.patch(session._id, {
    status: "completed",
    completedAt: event.at,
    completedReceivedAt: event.receivedAt,
    completeEventId: event.eventId,
    updatedAt: now,
    summary: {
      durationMs: Math.max(0, event.at - session.startedAt),
      cameras: session.counts.cameras,
      cuts: session.counts.cuts,
      holds: session.counts.holds,
      stills: session.counts.stills,
      cues: session.counts.cues,
      events: session.lastSequence,
      holdsClosedOnComplete: open.length,
    },
  });
  return { verdict: "applied", ledgerIds: { productionSessions: session._id } };
}

// ---------------------------------------------------------------------------
// Device registry.

async function registerDevice(
  ctx: MutationCtx,
  event: EventOf<"register_device">,
  now: number,
): Promise<Outcome> {
  const hardwareId = event.hardwareId;
  if (hardwareId !== undefined) {
    const holders = await ctx.db
      .query("productionDevices")
      .withIndex("by_hardwareId", (q) => q.eq("hardwareId", hardwareId))
      .take(10);
    const other = holders.find((d) => d.deviceId !== event.deviceId);
    if (other !== undefined) {
      return reject(
        "hardware_id_conflict",
        `hardwareId ${hardwareId} is registered to device ${other.deviceId}, not ${event.deviceId}`,
      );
    }
  }

  const optional = {
    ...(event.model !== undefined ? { model: event.model } : {}),
    ...(event.appVersion !== undefined
      ? { appVersion: event.appVersion }
      : {}),
    ...(hardwareId !== undefined ? { hardwareId } : {}),
  };
  const existing = await getDevice(ctx, event.deviceId);
  if (existing === null) {
    const id = await ctx.db.insert("productionDevices", {
      deviceId: event.deviceId,
      name: event.name,
      platform: event.platform,
      ...optional,
      firstSeenAt: event.receivedAt,
      lastSeenAt: event.receivedAt,
      lastRegisteredAt: event.at,
      registerEventId: event.eventId,
      lastEventId: event.eventId,
      updatedAt: now,
    });
    return { verdict: "applied", ledgerIds: { productionDevices: id } };
  }
  await ctx.db.patch(existing._id, {
    name: event.name,
    platform: event.platform,
    ...optional,
    lastSeenAt: Math.max(existing.lastSeenAt, event.receivedAt),
    lastRegisteredAt: event.at,
    lastEventId: event.eventId,
    updatedAt: now,
  });
  return { verdict: "applied", ledgerIds: { productionDevices: existing._id } };
}

// ---------------------------------------------------------------------------
// Cameras and placements.

async function insertPlacement(
  ctx: MutationCtx,
  camera: { sessionKey: string; cameraKey: string; deviceId: string },
  version: number,
  placement: Placement,
  event: WireEvent,
  now: number,
) {
  return ctx.db.insert("productionCameraPlacements", {
    sessionKey: camera.sessionKey,
    cameraKey: camera.cameraKey,
    deviceId: camera.deviceId,
    version,
    placement,
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt: now,
    eventId: event.eventId,
  });
}

async function joinSession(
  ctx: MutationCtx,
  event: EventOf<"join_session">,
  now: number,
): Promise<Outcome> {
  if (event.placement !== undefined) {
    const bad = checkPlacement(event.placement);
    if (bad) return bad;
  }
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;

  const device = await getDevice(ctx, event.deviceId);
  if (device === null) {
    return reject(
      "device_not_found",
      `device ${event.deviceId} is not registered`,
    );
  }

  const liveElsewhere = (
    await ctx.db
      .query("productionCameras")
      .withIndex("by_device_live", (q) =>
        q.eq("deviceId", event.deviceId).eq("live", true),
      )
      .take(10)
  ).find((c) => c.sessionKey !== event.sessionKey);
  if (liveElsewhere !== undefined) {
    return reject(
      "device_in_other_session",
      `device ${event.deviceId} is camera ${liveElsewhere.cameraKey} of live session ${liveElsewhere.sessionKey}`,
    );
  }

  const byKey = await getCamera(ctx, event.sessionKey, event.cameraKey);
  if (byKey !== null && byKey.deviceId !== event.deviceId) {
    return reject(
      "camera_key_taken",
      `camera ${event.cameraKey} of session ${event.sessionKey} is held by device ${byKey.deviceId}`,
    );
  }
  if (byKey === null) {
    const byDevice = await ctx.db
      .query("productionCameras")
      .withIndex("by_session_device", (q) =>
        q.eq("sessionKey", event.sessionKey).eq("deviceId", event.deviceId),
      )
      .first();
    if (byDevice !== null) {
      return reject(
        "device_already_in_session",
        `device ${event.deviceId} already is camera ${byDevice.cameraKey} of session ${event.sessionKey}`,
      );
    }
  }

  await touchDevice(ctx, device, event.receivedAt);
  const ledgerIds: Record<string, string> = {};

  if (byKey === null) {
    const version = event.placement !== undefined ? 1 : 0;
    const cameraId = await ctx.db.insert("productionCameras", {
      sessionKey: event.sessionKey,
      cameraKey: event.cameraKey,
      deviceId: event.deviceId,
      role: event.role,
      live: true,
      ...(event.placement !== undefined ? { placement: event.placement } : {}),
      placementVersion: version,
      ...(event.clockOffsetMs !== undefined
        ? { clockOffsetMs: event.clockOffsetMs }
        : {}),
      joinedAt: event.at,
      joinedReceivedAt: event.receivedAt,
      joinEventId: event.eventId,
      updatedAt: now,
      lastEventId: event.eventId,
    });
    ledgerIds.productionCameras = cameraId;
    if (event.placement !== undefined) {
      ledgerIds.productionCameraPlacements = await insertPlacement(
        ctx,
        event,
        version,
        event.placement,
        event,
        now,
      );
    }
    await ctx.db.patch(session._id, {
      counts: { ...session.counts, cameras: session.counts.cameras + 1 },
      updatedAt: now,
    });
    return { verdict: "applied", ledgerIds };
  }

  // Re-join of the same camera by the same device: an update.
  ledgerIds.productionCameras = byKey._id;
  const patch: Partial<Doc<"productionCameras">> = {
    role: event.role,
    updatedAt: now,
    lastEventId: event.eventId,
  };
  if (event.clockOffsetMs !== undefined) {
    patch.clockOffsetMs = event.clockOffsetMs;
  }
  if (event.placement !== undefined) {
    const version = byKey.placementVersion + 1;
    ledgerIds.productionCameraPlacements = await insertPlacement(
      ctx,
      byKey,
      version,
      event.placement,
      event,
      now,
    );
    patch.placement = event.placement;
    patch.placementVersion = version;
  }
  await ctx.db.patch(byKey._id, patch);
  return { verdict: "applied", ledgerIds };
}

async function updatePlacement(
  ctx: MutationCtx,
  event: EventOf<"update_placement">,
  now: number,
): Promise<Outcome> {
  const bad = checkPlacement(event.placement);
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;

  const camera = await ctx.db
    .query("productionCameras")
    .withIndex("by_session_device", (q) =>
      q.eq("sessionKey", event.sessionKey).eq("deviceId", event.deviceId),
    )
    .first();
  if (camera === null) {
    return reject(
      "camera_not_in_session",
      `device ${event.deviceId} holds no camera in session ${event.sessionKey}`,
    );
  }

  const device = await getDevice(ctx, event.deviceId);
  if (device !== null) await touchDevice(ctx, device, event.receivedAt);

  const version = camera.placementVersion + 1;
  const placementId = await insertPlacement(
    ctx,
    camera,
    version,
    event.placement,
    event,
    now,
  );
  await ctx.db.patch(camera._id, {
    placement: event.placement,
    placementVersion: version,
    ...(event.clockOffsetMs !== undefined
      ? { clockOffsetMs: event.clockOffsetMs }
      : {}),
    updatedAt: now,
    lastEventId: event.eventId,
  });
  return {
    verdict: "applied",
    ledgerIds: {
      productionCameras: camera._id,
      productionCameraPlacements: placementId,
    },
  };
}

// ---------------------------------------------------------------------------
// Director events.

async function cut(
  ctx: MutationCtx,
  event: EventOf<"cut">,
  now: number,
): Promise<Outcome> {
  const bad = checkNonNegative({ transitionMs: event.transitionMs });
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const to = await cameraInSession(ctx, event.sessionKey, event.cameraKey);
  if (isRejected(to)) return to;
  if (event.fromCameraKey !== undefined) {
    const from = await cameraInSession(
      ctx,
      event.sessionKey,
      event.fromCameraKey,
    );
    if (isRejected(from)) return from;
  }
  const { id, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    {
      type: "cut",
      cameraKey: event.cameraKey,
      ...(event.fromCameraKey !== undefined
        ? { fromCameraKey: event.fromCameraKey }
        : {}),
      ...(event.transition !== undefined
        ? { transition: event.transition }
        : {}),
      ...(event.transitionMs !== undefined
        ? { transitionMs: event.transitionMs }
        : {}),
    },
    {
      heroCameraKey: event.cameraKey,
      counts: { ...session.counts, cuts: session.counts.cuts + 1 },
    },
  );
  return {
    verdict: "applied",
    sequence,
    ledgerIds: { productionDirectorEvents: id },
  };
}

async function holdStart(
  ctx: MutationCtx,
  event: EventOf<"hold_start">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const camera = await cameraInSession(ctx, event.sessionKey, event.cameraKey);
  if (isRejected(camera)) return camera;
  const open = await openHold(ctx, event.sessionKey, event.holdId);
  if (open !== null) {
    return reject(
      "hold_already_open",
      `hold ${event.holdId} is already open (started by event ${open.eventId})`,
    );
  }
  const { id, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    {
      type: "hold_start",
      cameraKey: event.cameraKey,
      holdId: event.holdId,
      holdOpen: true,
    },
    { counts: { ...session.counts, holds: session.counts.holds + 1 } },
  );
  return {
    verdict: "applied",
    sequence,
    ledgerIds: { productionDirectorEvents: id },
  };
}

async function holdEnd(
  ctx: MutationCtx,
  event: EventOf<"hold_end">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const start = await openHold(ctx, event.sessionKey, event.holdId);
  if (start === null) {
    return reject(
      "hold_not_open",
      `hold ${event.holdId} is not open in session ${event.sessionKey}`,
    );
  }
  const { id, sequence } = await insertDirectorEvent(ctx, session, event, now, {
    type: "hold_end",
    holdId: event.holdId,
    ...(start.cameraKey !== undefined ? { cameraKey: start.cameraKey } : {}),
    holdStartEventId: start.eventId,
    holdDurationMs: Math.max(0, event.at - start.at),
  });
  await ctx.db.patch(start._id, {
    holdOpen: false,
    holdClosedAt: event.at,
    holdClosedBy: "hold_end",
    holdCloseEventId: event.eventId,
  });
  return {
    verdict: "applied",
    sequence,
    ledgerIds: { productionDirectorEvents: id },
  };
}

async function simpleDirectorEvent(
  ctx: MutationCtx,
  event: EventOf<"cue" | "marker" | "note">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  let fields: DirectorFields;
  let sessionPatch: Partial<Doc<"productionSessions">> = {};
  switch (event.type) {
    case "cue":
      fields = { type: "cue", cueKind: event.cueKind, label: event.label };
      sessionPatch = {
        counts: { ...session.counts, cues: session.counts.cues + 1 },
      };
      break;
    case "marker":
      fields = { type: "marker", label: event.label };
      break;
    case "note":
      fields = { type: "note", text: event.text };
      break;
  }
  const { id, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    fields,
    sessionPatch,
  );
  return {
    verdict: "applied",
    sequence,
    ledgerIds: { productionDirectorEvents: id },
  };
}

// ---------------------------------------------------------------------------
// Stills.

async function stillMarker(
  ctx: MutationCtx,
  event: EventOf<"still_marker">,
  now: number,
): Promise<Outcome> {
  const bad = checkNonNegative({
    capturedAt: event.capturedAt,
    width: event.width,
    height: event.height,
    byteSize: event.byteSize,
  });
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const camera = await cameraInSession(ctx, event.sessionKey, event.cameraKey);
  if (isRejected(camera)) return camera;
  const existing = await ctx.db
    .query("productionStills")
    .withIndex("by_stillId", (q) => q.eq("stillId", event.stillId))
    .first();
  if (existing !== null) {
    return reject(
      "still_exists",
      `still ${event.stillId} already exists (session ${existing.sessionKey}, marker event ${existing.markerEventId})`,
    );
  }

  const { id: directorEventId, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    { type: "still", cameraKey: event.cameraKey, stillId: event.stillId },
    { counts: { ...session.counts, stills: session.counts.stills + 1 } },
  );
  const stillRowId = await ctx.db.insert("productionStills", {
    stillId: event.stillId,
    sessionKey: event.sessionKey,
    cameraKey: event.cameraKey,
    deviceId: camera.deviceId,
    capturedAt: event.capturedAt,
    ...(event.width !== undefined ? { width: event.width } : {}),
    ...(event.height !== undefined ? { height: event.height } : {}),
    ...(event.byteSize !== undefined ? { byteSize: event.byteSize } : {}),
    ...(event.contentType !== undefined
      ? { contentType: event.contentType }
      : {}),
    ...(event.sha256 !== undefined ? { sha256: event.sha256 } : {}),
    ...(event.storageRef !== undefined
      ? { storageRef: event.storageRef }
      : {}),
    directorEventId,
    markerEventId: event.eventId,
    uploadStatus: "pending",
    createdAt: now,
    updatedAt: now,
  });
  await ctx.db.patch(directorEventId, { stillRowId });
  return {
    verdict: "applied",
    sequence,
    ledgerIds: {
      productionDirectorEvents: directorEventId,
      productionStills: stillRowId,
    },
  };
}

async function stillUploaded(
  ctx: MutationCtx,
  event: EventOf<"still_uploaded">,
  now: number,
): Promise<Outcome> {
  const bad = checkNonNegative({ byteSize: event.byteSize });
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const still = await ctx.db
    .query("productionStills")
    .withIndex("by_stillId", (q) => q.eq("stillId", event.stillId))
    .first();
  if (still === null || still.sessionKey !== event.sessionKey) {
    return reject(
      "still_not_found",
      `no still ${event.stillId} in session ${event.sessionKey}`,
    );
  }
  await ctx.db.patch(still._id, {
    storageRef: event.storageRef,
    ...(event.byteSize !== undefined ? { byteSize: event.byteSize } : {}),
    ...(event.contentType !== undefined
      ? { contentType: event.contentType }
      : {}),
    ...(event.sha256 !== undefined ? { sha256: event.sha256 } : {}),
    ...(event.url !== undefined ? { url: event.url } : {}),
    uploadStatus: "uploaded",
    uploadedAt: event.at,
    uploadedReceivedAt: event.receivedAt,
    uploadEventId: event.eventId,
    updatedAt: now,
  });
  return { verdict: "applied", ledgerIds: { productionStills: still._id } };
}
