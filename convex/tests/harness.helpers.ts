// Shared test harness for the ledger tests (not a test file itself; the
// second dot in the name keeps the Convex CLI from deploying it).
import { convexTest } from "convex-test";
import { internal, api } from "../_generated/api";
import type { Doc, TableNames } from "../_generated/dataModel";
import { modules, schema } from "../../standin/modules";
import { timelineKey } from "../timeline";
import type { Placement, Verdict, WireEvent } from "../wire";

export { api, internal };

/** 2026-01-01T00:00:00Z: the (faked) ledger clock during tests. */
export const NOW = 1_767_225_600_000;

export function setup() {
  return convexTest({ schema, modules, transactionLimits: true });
}
export type T = ReturnType<typeof setup>;

/**
 * Applies a batch. Every verdict must carry the event's timeline key (an
 * event without a receipt, with an invalid id, carries none); the key is
 * checked here and left out of what is returned, so that tests compare the
 * rest.
 */
export async function apply(t: T, events: WireEvent[]): Promise<Verdict[]> {
  const { verdicts } = await t.mutation(internal.ingest.applyBatch, { events });
  return verdicts.map((v, i) => {
    const { timeline, ...rest } = v;
    if (timeline !== undefined && timeline !== timelineKey(events[i])) {
      throw new Error(`verdict ${i} has timeline ${timeline}, not ${timelineKey(events[i])}`);
    }
    return rest;
  });
}

const TABLES: TableNames[] = [
  "productionSessions",
  "productionCameras",
  "productionCameraPlacements",
  "productionDirectorEvents",
  "productionStills",
  "productionDevices",
  "productionDeviceClashes",
  "ingestReceipts",
];

/** Every row of every table (test-only full scans). */
export async function dump(t: T) {
  return t.run(async (ctx) => {
    const out: Record<string, unknown[]> = {};
    for (const table of TABLES) out[table] = await ctx.db.query(table).collect();
    return out;
  });
}

export async function rows<N extends TableNames>(t: T, table: N): Promise<Doc<N>[]> {
  return t.run(async (ctx) => (await ctx.db.query(table).collect()) as Doc<N>[]);
}

/** A session as the paged reads give it: header, then every page in timeline order. */
export async function readSession(t: T, sessionKey: string) {
  const header = await t.query(internal.ledger.sessionHeader, { sessionKey });
  if (header === null) return null;
  async function all<R>(q: any, numItems = 256): Promise<R[]> {
    const out: R[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page: { page: R[]; isDone: boolean; continueCursor: string } = await t.query(q, {
        sessionKey,
        paginationOpts: { numItems, cursor },
      });
      out.push(...page.page);
      if (page.isDone) return out;
      cursor = page.continueCursor;
    }
  }
  return {
    ...header,
    events: await all<Doc<"productionDirectorEvents">>(internal.ledger.sessionEvents),
    stills: await all<Doc<"productionStills">>(internal.ledger.sessionStills),
    placements: await all<Doc<"productionCameraPlacements">>(internal.ledger.sessionPlacements),
  };
}

/** A document without its system fields and its per-field timelines (lww.ts). */
export function plain<D extends { _id: unknown; _creationTime: unknown }>(doc: D) {
  const { timelines: _, ...rest } = bare(doc) as Record<string, unknown>;
  return rest;
}

/** A document without its system fields. */
export function bare<D extends { _id: unknown; _creationTime: unknown }>(
  doc: D,
): Omit<D, "_id" | "_creationTime"> {
  const { _id, _creationTime, ...rest } = doc;
  return rest;
}

type Ev<K extends WireEvent["type"]> = Extract<WireEvent, { type: K }>;
type Extra<K extends WireEvent["type"]> = Partial<Omit<Ev<K>, "type">>;

/**
 * Event factory. Event ids are UUIDs numbered 1, 2, 3… in creation order;
 * each event's sender clock `at` is 1 s after the previous one (starting at
 * `startAt + 1000`), and `receivedAt` is `at + 5`.
 */
export function events(startAt = NOW - 3_600_000) {
  let n = 0;
  let clock = startAt;
  function base<K extends WireEvent["type"]>(type: K) {
    n += 1;
    clock += 1000;
    return {
      eventId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
      type,
      at: clock,
      receivedAt: clock + 5,
      instance: "i1",
      seq: n,
    };
  }
  return {
    /** eventId of the n-th event made by this factory. */
    id: (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    start: (sessionKey: string, title = "Spring lookbook", x: Extra<"start_shoot"> = {}): Ev<"start_shoot"> => ({
      ...base("start_shoot"),
      sessionKey,
      title,
      ...x,
    }),
    complete: (sessionKey: string, x: Extra<"complete_session"> = {}): Ev<"complete_session"> => ({
      ...base("complete_session"),
      sessionKey,
      ...x,
    }),
    register: (deviceId: string, x: Extra<"register_device"> = {}): Ev<"register_device"> => ({
      ...base("register_device"),
      deviceId,
      name: `Phone ${deviceId}`,
      platform: "ios",
      ...x,
    }),
    join: (
      sessionKey: string,
      cameraKey: string,
      deviceId: string,
      x: Extra<"join_session"> = {},
    ): Ev<"join_session"> => ({
      ...base("join_session"),
      sessionKey,
      cameraKey,
      deviceId,
      role: "wide",
      ...x,
    }),
    place: (
      sessionKey: string,
      deviceId: string,
      placement: Placement,
      x: Extra<"update_placement"> = {},
    ): Ev<"update_placement"> => ({
      ...base("update_placement"),
      sessionKey,
      deviceId,
      placement,
      ...x,
    }),
    cut: (sessionKey: string, cameraKey: string, x: Extra<"cut"> = {}): Ev<"cut"> => ({
      ...base("cut"),
      sessionKey,
      cameraKey,
      ...x,
    }),
    holdStart: (sessionKey: string, holdId: string, cameraKey: string, x: Extra<"hold_start"> = {}): Ev<"hold_start"> => ({
      ...base("hold_start"),
      sessionKey,
      holdId,
      cameraKey,
      ...x,
    }),
    holdEnd: (sessionKey: string, holdId: string, x: Extra<"hold_end"> = {}): Ev<"hold_end"> => ({
      ...base("hold_end"),
      sessionKey,
      holdId,
      ...x,
    }),
    cue: (sessionKey: string, label = "chin up", x: Extra<"cue"> = {}): Ev<"cue"> => ({
      ...base("cue"),
      sessionKey,
      cueKind: "pose",
      label,
      ...x,
    }),
    marker: (sessionKey: string, label = "take 1", x: Extra<"marker"> = {}): Ev<"marker"> => ({
      ...base("marker"),
      sessionKey,
      label,
      ...x,
    }),
    note: (sessionKey: string, text = "wind picking up", x: Extra<"note"> = {}): Ev<"note"> => ({
      ...base("note"),
      sessionKey,
      text,
      ...x,
    }),
    still: (sessionKey: string, stillId: string, cameraKey: string, x: Extra<"still_marker"> = {}): Ev<"still_marker"> => {
      const b = base("still_marker");
      return { ...b, sessionKey, stillId, cameraKey, capturedAt: b.at - 200, ...x };
    },
    uploaded: (sessionKey: string, stillId: string, storageRef: string, x: Extra<"still_uploaded"> = {}): Ev<"still_uploaded"> => ({
      ...base("still_uploaded"),
      sessionKey,
      stillId,
      storageRef,
      ...x,
    }),
    retire: (deviceId: string, x: Extra<"retire_device"> = {}): Ev<"retire_device"> => ({
      ...base("retire_device"),
      deviceId,
      ...x,
    }),
    reinstate: (deviceId: string, x: Extra<"reinstate_device"> = {}): Ev<"reinstate_device"> => ({
      ...base("reinstate_device"),
      deviceId,
      ...x,
    }),
    rename: (deviceId: string, label: string, x: Extra<"rename_device"> = {}): Ev<"rename_device"> => ({
      ...base("rename_device"),
      deviceId,
      label,
      ...x,
    }),
    resolve: (
      hardwareId: string,
      ownerDeviceId: string,
      retireOthers = false,
      x: Extra<"resolve_clash"> = {},
    ): Ev<"resolve_clash"> => ({
      ...base("resolve_clash"),
      hardwareId,
      ownerDeviceId,
      retireOthers,
      ...x,
    }),
    replace: (
      sessionKey: string,
      cameraKey: string,
      deviceId: string,
      x: Extra<"replace_camera_device"> = {},
    ): Ev<"replace_camera_device"> => ({
      ...base("replace_camera_device"),
      sessionKey,
      cameraKey,
      deviceId,
      ...x,
    }),
  };
}

export function applied(eventId: string, ledgerIds: Record<string, string>): Verdict {
  return { eventId, verdict: "applied", ledgerIds };
}

/** The verdict of an event that waits (what for, and the code it would get). */
export function waiting(
  eventId: string,
  kind: NonNullable<Verdict["waitingFor"]>["kind"],
  key: string,
  code: NonNullable<Verdict["code"]>,
  message: string,
): Verdict {
  return { eventId, verdict: "waiting", code, message, waitingFor: { kind, key } };
}

/** Settles waiting events as if their grace period were over. */
export async function settleAll(t: T, eventIds: string[]) {
  const { verdicts } = await t.mutation(internal.ingest.settle, { eventIds, graceMs: 0 });
  return verdicts.map((v) => {
    const { timeline: _, ...rest } = v as Verdict;
    return rest;
  });
}

/** The timeline key of an event (timeline.ts). */
export { timelineKey };

export function rejected(eventId: string, code: NonNullable<Verdict["code"]>, message: string): Verdict {
  return { eventId, verdict: "rejected", code, message };
}

/** The verdict a replay must give for an event whose first verdict was `first`. */
export function duplicateOf(first: Verdict): Verdict {
  if (first.verdict === "duplicate" || first.verdict === "waiting") throw new Error("not a settled first verdict");
  const { verdict, ...rest } = first;
  return { ...rest, verdict: "duplicate", original: verdict };
}
