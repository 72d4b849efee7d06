// Tables of the shootlog production ledger.
// Contract: docs/ledger-contract.md; mapping and refinements:
// migrations-notes/0001-ledger-schema-and-wire.md.
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import {
  cameraRole,
  cueKind,
  directorEventType,
  eventType,
  ledgerIds,
  placement,
  platform,
  rejectionCode,
  replacement,
  retirement,
  stillFileFields,
  transition,
  waitingFor,
  wireEvent,
} from "./wire";

// Per field, the timeline key of the event that set it (lww.ts).
const timelines = v.record(v.string(), v.string());

export default defineSchema({
  productionSessions: defineTable({
    sessionKey: v.string(),
    kind: v.literal("photoshoot_performance"),
    status: v.union(v.literal("live"), v.literal("completed")),
    title: v.string(),
    notes: v.optional(v.string()),
    location: v.optional(v.string()),
    // Sender clock (`at`) and service clock (`receivedAt`) of the first start_shoot.
    startedAt: v.number(),
    startedReceivedAt: v.number(),
    startEventId: v.string(),
    // Ledger write time of the last change to this row.
    updatedAt: v.number(),
    // Camera key of the latest cut in timeline order (the hero feed), and
    // that cut's timeline key.
    heroCameraKey: v.optional(v.string()),
    heroTimeline: v.optional(v.string()),
    // Running counters; once completed, `summary` is rewritten from them in
    // the same write. `events`: director events applied.
    counts: v.object({
      cameras: v.number(),
      cuts: v.number(),
      holds: v.number(),
      stills: v.number(),
      cues: v.number(),
      events: v.number(),
      holdsClosedOnComplete: v.number(),
    }),
    completedAt: v.optional(v.number()),
    completedReceivedAt: v.optional(v.number()),
    completeEventId: v.optional(v.string()),
    // The completion's timeline key: later events are `session_completed`.
    completedTimeline: v.optional(v.string()),
    // Ledger time of the completion: waiting events are rejected once the
    // grace period has passed after it.
    completedAppliedAt: v.optional(v.number()),
    timelines,
    summary: v.optional(
      v.object({
        durationMs: v.number(),
        cameras: v.number(),
        cuts: v.number(),
        holds: v.number(),
        stills: v.number(),
        cues: v.number(),
        events: v.number(),
        holdsClosedOnComplete: v.number(),
      }),
    ),
  })
    .index("by_sessionKey", ["sessionKey"])
    // ledger:sessions, newest startedAt first (migrations-notes/0005).
    .index("by_startedAt", ["startedAt"])
    .index("by_status_startedAt", ["status", "startedAt"]),

  productionCameras: defineTable({
    sessionKey: v.string(),
    cameraKey: v.string(),
    deviceId: v.string(),
    role: cameraRole,
    // True while the session is live; set false when it completes.
    live: v.boolean(),
    // Copy of the latest productionCameraPlacements row (absent = none yet).
    placement: v.optional(placement),
    // How many placement rows the camera has (the latest's version); 0 = none.
    placementVersion: v.number(),
    // Device clock minus service clock, as last reported.
    clockOffsetMs: v.optional(v.number()),
    joinedAt: v.number(),
    joinedReceivedAt: v.number(),
    joinEventId: v.string(),
    updatedAt: v.number(),
    lastEventId: v.string(),
    // Who held the camera before, oldest first (replace_camera_device);
    // absent until a first replacement.
    replaced: v.optional(v.array(replacement)),
    timelines,
  })
    .index("by_session_camera", ["sessionKey", "cameraKey"])
    .index("by_session_device", ["sessionKey", "deviceId"])
    .index("by_device_live", ["deviceId", "live"]),

  productionCameraPlacements: defineTable({
    sessionKey: v.string(),
    cameraKey: v.string(),
    deviceId: v.string(),
    // Rank of this placement in the camera's timeline, from 1.
    version: v.number(),
    placement,
    // The clock offset its event reported, when it reported one.
    clockOffsetMs: v.optional(v.number()),
    at: v.number(),
    receivedAt: v.number(),
    appliedAt: v.number(),
    eventId: v.string(),
    timeline: v.string(),
  })
    .index("by_session_timeline", ["sessionKey", "timeline"])
    .index("by_camera_timeline", ["sessionKey", "cameraKey", "timeline"])
    .index("by_device_timeline", ["deviceId", "timeline"]),

  productionDirectorEvents: defineTable({
    eventId: v.string(),
    sessionKey: v.string(),
    // Position in the session's timeline (timeline.ts).
    timeline: v.string(),
    type: directorEventType,
    at: v.number(),
    receivedAt: v.number(),
    appliedAt: v.number(),
    // cut, hold_start, hold_end (copied from its start), still
    cameraKey: v.optional(v.string()),
    // cut
    fromCameraKey: v.optional(v.string()),
    transition: v.optional(transition),
    transitionMs: v.optional(v.number()),
    // hold_start, hold_end
    holdId: v.optional(v.string()),
    // hold_start only: true while the hold is open. Closing info below.
    holdOpen: v.optional(v.boolean()),
    holdClosedAt: v.optional(v.number()),
    holdClosedBy: v.optional(
      v.union(v.literal("hold_end"), v.literal("complete_session")),
    ),
    holdCloseEventId: v.optional(v.string()),
    // hold_end only: the matching hold_start and the hold's length (sender clock).
    holdStartEventId: v.optional(v.string()),
    holdDurationMs: v.optional(v.number()),
    // cue
    cueKind: v.optional(cueKind),
    // cue, marker
    label: v.optional(v.string()),
    // note
    text: v.optional(v.string()),
    // still: link to the productionStills row (natural key and row id)
    stillId: v.optional(v.string()),
    stillRowId: v.optional(v.id("productionStills")),
  })
    // An applied director event's receipt is its row (receipts.ts).
    .index("by_eventId", ["eventId"])
    .index("by_session_timeline", ["sessionKey", "timeline"])
    .index("by_session_hold", ["sessionKey", "holdId", "timeline"])
    .index("by_session_holdOpen", ["sessionKey", "holdOpen"]),

  productionStills: defineTable({
    stillId: v.string(),
    sessionKey: v.string(),
    cameraKey: v.string(),
    deviceId: v.string(),
    capturedAt: v.number(),
    ...stillFileFields,
    url: v.optional(v.string()),
    // Link to the `still` director event (row id and eventId).
    directorEventId: v.id("productionDirectorEvents"),
    markerEventId: v.string(),
    uploadStatus: v.union(v.literal("pending"), v.literal("uploaded")),
    uploadedAt: v.optional(v.number()),
    uploadedReceivedAt: v.optional(v.number()),
    uploadEventId: v.optional(v.string()),
    createdAt: v.number(),
    updatedAt: v.number(),
    timeline: v.string(),
    timelines,
  })
    .index("by_stillId", ["stillId"])
    .index("by_session_timeline", ["sessionKey", "timeline"]),

  productionDevices: defineTable({
    deviceId: v.string(),
    name: v.string(),
    platform,
    model: v.optional(v.string()),
    appVersion: v.optional(v.string()),
    hardwareId: v.optional(v.string()),
    // The operator's name for the device (rename_device, latest-wins).
    label: v.optional(v.string()),
    // retire_device sets it, reinstate_device sets it to null (latest-wins);
    // absent: never retired nor reinstated.
    retirement: v.optional(retirement),
    // Service clock (`receivedAt`) when first / last seen.
    firstSeenAt: v.number(),
    lastSeenAt: v.number(),
    // Sender clock of the latest registration.
    lastRegisteredAt: v.number(),
    registerEventId: v.string(),
    lastEventId: v.string(),
    updatedAt: v.number(),
    timelines,
  })
    .index("by_deviceId", ["deviceId"])
    .index("by_hardwareId", ["hardwareId"]),

  // A registration refused `hardware_id_conflict`, kept until an operator
  // resolves it (resolve_clash). migrations-notes/0005.
  productionDeviceClashes: defineTable({
    hardwareId: v.string(),
    // The device that holds the hardware id, and the one that claimed it.
    holderDeviceId: v.string(),
    claimantDeviceId: v.string(),
    // The refused registration's.
    eventId: v.string(),
    at: v.number(),
    receivedAt: v.number(),
    timeline: v.string(),
    name: v.string(),
    platform,
    open: v.boolean(),
    // Once resolved: the resolve_clash event and the owner it named.
    resolvedBy: v.optional(v.string()),
    ownerDeviceId: v.optional(v.string()),
  })
    .index("by_hardwareId_open", ["hardwareId", "open"])
    .index("by_holder", ["holderDeviceId", "timeline"])
    .index("by_claimant", ["claimantDeviceId", "timeline"])
    .index("by_open", ["open", "timeline"]),

  ingestReceipts: defineTable({
    eventId: v.string(),
    type: eventType,
    verdict: v.union(
      v.literal("applied"),
      v.literal("rejected"),
      v.literal("waiting"),
    ),
    // rejected; waiting: the code it gets if what it waits for never comes
    code: v.optional(rejectionCode),
    message: v.optional(v.string()),
    timeline: v.string(),
    ledgerIds: v.optional(ledgerIds),
    sessionKey: v.optional(v.string()),
    deviceId: v.optional(v.string()),
    at: v.number(),
    receivedAt: v.number(),
    appliedAt: v.number(),
    // Only while waiting: `kind:key` of what it waits for, its session, and
    // the event itself, to apply it when that comes.
    waitingFor: v.optional(waitingFor),
    waitsFor: v.optional(v.string()),
    waitSession: v.optional(v.string()),
    event: v.optional(wireEvent),
  })
    .index("by_eventId", ["eventId"])
    .index("by_waitsFor", ["waitsFor", "timeline"])
    .index("by_waitSession", ["waitSession", "timeline"])
    // ledger:device (migrations-notes/0005).
    .index("by_device_timeline", ["deviceId", "timeline"]),
});
