// Wire format of `ingest:applyBatch` and the value shapes the ledger stores.
// The exact contract is migrations-notes/0001-ledger-schema-and-wire.md;
// change that note first, then this file and the Rust forwarder. The limits
// (events per batch, lengths) are in limits.ts.
import { v, type Infer } from "convex/values";

export const platform = v.union(
  v.literal("ios"),
  v.literal("ipados"),
  v.literal("android"),
  v.literal("other"),
);

export const cameraRole = v.union(
  v.literal("hero"),
  v.literal("wide"),
  v.literal("close"),
  v.literal("detail"),
  v.literal("overhead"),
  v.literal("other"),
);

export const orientation = v.union(
  v.literal("portrait"),
  v.literal("portrait_upside_down"),
  v.literal("landscape_left"),
  v.literal("landscape_right"),
);

export const transition = v.union(
  v.literal("cut"),
  v.literal("dissolve"),
  v.literal("fade"),
);

export const cueKind = v.union(
  v.literal("pose"),
  v.literal("look"),
  v.literal("lighting"),
  v.literal("wardrobe"),
  v.literal("other"),
);

/** One placement version of a camera. All fields optional, at least one present. */
export const placement = v.object({
  x: v.optional(v.number()),
  y: v.optional(v.number()),
  z: v.optional(v.number()),
  heightM: v.optional(v.number()),
  distanceM: v.optional(v.number()),
  panDeg: v.optional(v.number()),
  tiltDeg: v.optional(v.number()),
  rollDeg: v.optional(v.number()),
  focalLengthMm: v.optional(v.number()),
  zoom: v.optional(v.number()),
  orientation: v.optional(orientation),
  notes: v.optional(v.string()),
});
export type Placement = Infer<typeof placement>;

/** Inclusive physical ranges of the numeric placement fields. */
export const PLACEMENT_RANGES: Record<
  Exclude<keyof Placement, "orientation" | "notes">,
  readonly [number, number]
> = {
  x: [-1000, 1000],
  y: [-1000, 1000],
  z: [-1000, 1000],
  heightM: [0, 100],
  distanceM: [0, 1000],
  panDeg: [-180, 180],
  tiltDeg: [-90, 90],
  rollDeg: [-180, 180],
  focalLengthMm: [1, 2000],
  zoom: [0.1, 200],
};
// The longest `notes`: PLACEMENT_NOTES_MAX in limits.ts.

// Fields every event carries.
// `instance` and `seq`: where the event was journaled (contract 2), which
// makes its timeline key (timeline.ts).
const common = {
  eventId: v.string(),
  at: v.number(),
  receivedAt: v.number(),
  instance: v.string(),
  seq: v.number(),
};

export const startShoot = v.object({
  ...common,
  type: v.literal("start_shoot"),
  sessionKey: v.string(),
  title: v.string(),
  notes: v.optional(v.string()),
  location: v.optional(v.string()),
});

export const completeSession = v.object({
  ...common,
  type: v.literal("complete_session"),
  sessionKey: v.string(),
});

export const registerDevice = v.object({
  ...common,
  type: v.literal("register_device"),
  deviceId: v.string(),
  name: v.string(),
  platform,
  model: v.optional(v.string()),
  appVersion: v.optional(v.string()),
  hardwareId: v.optional(v.string()),
});

export const joinSession = v.object({
  ...common,
  type: v.literal("join_session"),
  sessionKey: v.string(),
  cameraKey: v.string(),
  deviceId: v.string(),
  role: cameraRole,
  placement: v.optional(placement),
  clockOffsetMs: v.optional(v.number()),
});

export const updatePlacement = v.object({
  ...common,
  type: v.literal("update_placement"),
  sessionKey: v.string(),
  deviceId: v.string(),
  placement,
  clockOffsetMs: v.optional(v.number()),
});

export const cut = v.object({
  ...common,
  type: v.literal("cut"),
  sessionKey: v.string(),
  cameraKey: v.string(),
  fromCameraKey: v.optional(v.string()),
  transition: v.optional(transition),
  transitionMs: v.optional(v.number()),
});

export const holdStart = v.object({
  ...common,
  type: v.literal("hold_start"),
  sessionKey: v.string(),
  holdId: v.string(),
  cameraKey: v.string(),
});

export const holdEnd = v.object({
  ...common,
  type: v.literal("hold_end"),
  sessionKey: v.string(),
  holdId: v.string(),
});

export const cue = v.object({
  ...common,
  type: v.literal("cue"),
  sessionKey: v.string(),
  cueKind,
  label: v.string(),
});

export const marker = v.object({
  ...common,
  type: v.literal("marker"),
  sessionKey: v.string(),
  label: v.string(),
});

export const note = v.object({
  ...common,
  type: v.literal("note"),
  sessionKey: v.string(),
  text: v.string(),
});

/** What a still marker may say of the file: the same fields in the event and
 * in the `productionStills` row it creates. */
export const stillFileFields = {
  width: v.optional(v.number()),
  height: v.optional(v.number()),
  byteSize: v.optional(v.number()),
  contentType: v.optional(v.string()),
  sha256: v.optional(v.string()),
  storageRef: v.optional(v.string()),
};

export const stillMarker = v.object({
  ...common,
  type: v.literal("still_marker"),
  sessionKey: v.string(),
  stillId: v.string(),
  cameraKey: v.string(),
  capturedAt: v.number(),
  ...stillFileFields,
});

export const stillUploaded = v.object({
  ...common,
  type: v.literal("still_uploaded"),
  sessionKey: v.string(),
  stillId: v.string(),
  storageRef: v.string(),
  byteSize: v.optional(v.number()),
  contentType: v.optional(v.string()),
  sha256: v.optional(v.string()),
  url: v.optional(v.string()),
});

// Registry repair (migrations-notes/0005): written by operators.

export const retireDevice = v.object({
  ...common,
  type: v.literal("retire_device"),
  deviceId: v.string(),
  reason: v.optional(v.string()),
});

export const reinstateDevice = v.object({
  ...common,
  type: v.literal("reinstate_device"),
  deviceId: v.string(),
});

export const renameDevice = v.object({
  ...common,
  type: v.literal("rename_device"),
  deviceId: v.string(),
  label: v.string(),
});

export const resolveClash = v.object({
  ...common,
  type: v.literal("resolve_clash"),
  hardwareId: v.string(),
  ownerDeviceId: v.string(),
  retireOthers: v.boolean(),
});

export const replaceCameraDevice = v.object({
  ...common,
  type: v.literal("replace_camera_device"),
  sessionKey: v.string(),
  cameraKey: v.string(),
  deviceId: v.string(),
  reason: v.optional(v.string()),
});

/** A device's retirement (latest-wins; `null` once reinstated). */
export const retirement = v.union(
  v.null(),
  v.object({
    at: v.number(),
    receivedAt: v.number(),
    reason: v.optional(v.string()),
    eventId: v.string(),
  }),
);

/** One entry of a camera's `replaced` list: who held it, who took it over. */
export const replacement = v.object({
  deviceId: v.string(),
  byDeviceId: v.string(),
  at: v.number(),
  receivedAt: v.number(),
  eventId: v.string(),
  reason: v.optional(v.string()),
});

export const wireEvent = v.union(
  startShoot,
  completeSession,
  registerDevice,
  joinSession,
  updatePlacement,
  cut,
  holdStart,
  holdEnd,
  cue,
  marker,
  note,
  stillMarker,
  stillUploaded,
  retireDevice,
  reinstateDevice,
  renameDevice,
  resolveClash,
  replaceCameraDevice,
);
export type WireEvent = Infer<typeof wireEvent>;
export type WireEventType = WireEvent["type"];

export const eventType = v.union(
  v.literal("start_shoot"),
  v.literal("complete_session"),
  v.literal("register_device"),
  v.literal("join_session"),
  v.literal("update_placement"),
  v.literal("cut"),
  v.literal("hold_start"),
  v.literal("hold_end"),
  v.literal("cue"),
  v.literal("marker"),
  v.literal("note"),
  v.literal("still_marker"),
  v.literal("still_uploaded"),
  v.literal("retire_device"),
  v.literal("reinstate_device"),
  v.literal("rename_device"),
  v.literal("resolve_clash"),
  v.literal("replace_camera_device"),
);

export const rejectionCode = v.union(
  v.literal("session_not_found"),
  v.literal("session_completed"),
  v.literal("device_not_found"),
  v.literal("device_in_other_session"),
  v.literal("device_already_in_session"),
  v.literal("camera_key_taken"),
  v.literal("camera_not_in_session"),
  v.literal("hold_already_open"),
  v.literal("hold_not_open"),
  v.literal("placement_out_of_range"),
  v.literal("still_not_found"),
  v.literal("still_exists"),
  v.literal("hardware_id_conflict"),
  v.literal("invalid_event"),
  // migrations-notes/0005
  v.literal("device_retired"),
  v.literal("clash_not_found"),
  v.literal("device_not_in_clash"),
);
export type RejectionCode = Infer<typeof rejectionCode>;

/** `{ [table]: id }` of the rows an applied event wrote. */
export const ledgerIds = v.record(v.string(), v.string());

/** What a waiting event waits for (migrations-notes/0003, "Waiting"). */
export const waitingKind = v.union(
  v.literal("session"),
  v.literal("device"),
  v.literal("camera"),
  v.literal("member"),
  v.literal("device_free"),
  v.literal("hold"),
  v.literal("still"),
);
export type WaitingKind = Infer<typeof waitingKind>;
export const waitingFor = v.object({ kind: waitingKind, key: v.string() });
export type WaitingFor = Infer<typeof waitingFor>;

export const verdict = v.object({
  eventId: v.string(),
  verdict: v.union(
    v.literal("applied"),
    v.literal("duplicate"),
    v.literal("rejected"),
    v.literal("waiting"),
  ),
  // rejected; waiting: the code it gets if what it waits for never comes
  code: v.optional(rejectionCode),
  message: v.optional(v.string()),
  original: v.optional(v.union(v.literal("applied"), v.literal("rejected"))),
  timeline: v.optional(v.string()),
  waitingFor: v.optional(waitingFor),
  ledgerIds: v.optional(ledgerIds),
});
export type Verdict = Infer<typeof verdict>;

/** Director event kinds: the rows of a session's timeline. */
export const directorEventType = v.union(
  v.literal("cut"),
  v.literal("hold_start"),
  v.literal("hold_end"),
  v.literal("cue"),
  v.literal("marker"),
  v.literal("note"),
  v.literal("still"),
);
