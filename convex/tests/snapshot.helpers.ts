// The ledger snapshot of the conformance corpus (tests/conformance/README.md):
// what both implementations of the contract — the Convex functions and the
// service's embedded ledger — must leave behind for the same events. Row
// ids, the ledger's own write times and its bookkeeping (per-field
// timelines, a waiting event's stored copy) are left out; everything else
// is compared, field for field.
import type { TableNames } from "../_generated/dataModel";
import { internal, type T } from "./harness.helpers";

// The same list as SNAPSHOT_ASIDE in src/embedded/mod.rs.
const ASIDE = new Set([
  "_id",
  "_creationTime",
  "appliedAt",
  "updatedAt",
  "createdAt",
  "completedAppliedAt",
  "timelines",
  "directorEventId",
  "stillRowId",
]);

const TABLES: [string, TableNames, (d: Record<string, unknown>) => string][] = [
  ["sessions", "productionSessions", (d) => String(d.sessionKey)],
  ["devices", "productionDevices", (d) => String(d.deviceId)],
  ["cameras", "productionCameras", (d) => `${d.sessionKey}\u0000${d.cameraKey}`],
  ["placements", "productionCameraPlacements", (d) => String(d.timeline)],
  ["directorEvents", "productionDirectorEvents", (d) => String(d.timeline)],
  ["stills", "productionStills", (d) => String(d.stillId)],
  ["clashes", "productionDeviceClashes", (d) => String(d.timeline)],
];

function strip(d: Record<string, unknown>) {
  return Object.fromEntries(Object.entries(d).filter(([k]) => !ASIDE.has(k)));
}

export type Snapshot = Record<string, unknown[]>;

/** The snapshot after `eventIds` were applied: tables, then every receipt in that order. */
export async function snapshot(t: T, eventIds: string[]): Promise<Snapshot> {
  const out: Snapshot = {};
  const tables = await t.run(async (ctx) => {
    const got: Record<string, Record<string, unknown>[]> = {};
    for (const [name, table] of TABLES) {
      got[name] = (await ctx.db.query(table).collect()) as Record<string, unknown>[];
    }
    return got;
  });
  for (const [name, , key] of TABLES) {
    out[name] = tables[name].map(strip).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }
  const ids = [...new Set(eventIds)];
  const receipts = [];
  for (let i = 0; i < ids.length; i += 500) {
    receipts.push(...(await t.query(internal.ledger.receipts, { eventIds: ids.slice(i, i + 500) })));
  }
  out.receipts = receipts.map((r, i) => {
    if (r === null) return { eventId: ids[i], verdict: "none" };
    const { eventId, type, verdict, code, message, waitingFor, timeline } = r;
    return Object.fromEntries(
      Object.entries({ eventId, type, verdict, code, message, waitingFor, timeline }).filter(([, x]) => x !== undefined),
    );
  });
  return out;
}
