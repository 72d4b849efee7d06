// Shared test harness for the ledger tests (not a test file itself; the
// second dot in the name keeps the Convex CLI from deploying it).
import { convexTest } from "convex-test";
import { internal, api } from "../_generated/api";
import type { Doc, TableNames } from "../_generated/dataModel";
import { modules, schema } from "../../standin/modules";
import type { Placement, Verdict, WireEvent } from "../wire";

export { api, internal };

/** 2026-01-01T00:00:00Z: the (faked) ledger clock during tests. */
export const NOW = 1_767_225_600_000;

export function setup() {
  return convexTest({ schema, modules, transactionLimits: true });
}
export type T = ReturnType<typeof setup>;

export async function apply(t: T, events: WireEvent[]): Promise<Verdict[]> {
  const { verdicts } = await t.mutation(internal.ingest.applyBatch, { events });
  return verdicts;
}

const TABLES: TableNames[] = [
  "productionSessions",
  "productionCameras",
  "productionCameraPlacements",
  "productionDirectorEvents",
  "productionStills",
  "productionDevices",
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
  };
}

export function applied(eventId: string, ledgerIds: Record<string, string>, sequence?: number): Verdict {
  return sequence === undefined
    ? { eventId, verdict: "applied", ledgerIds }
    : { eventId, verdict: "applied", sequence, ledgerIds };
}

export function rejected(eventId: string, code: NonNullable<Verdict["code"]>, message: string): Verdict {
  return { eventId, verdict: "rejected", code, message };
}

/** The verdict a replay must give for an event whose first verdict was `first`. */
export function duplicateOf(first: Verdict): Verdict {
  if (first.verdict === "duplicate") throw new Error("not a first verdict");
  const { verdict, ...rest } = first;
  return { ...rest, verdict: "duplicate", original: verdict };
}
