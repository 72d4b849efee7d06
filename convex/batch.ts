// One transaction's working set (migrations-notes/0003, "Cheap batches").
//
// A batch of 500 events for one session must not write the session's row
// 500 times: that row is the document every writer of the session contends
// on. So the rows a batch reads often are cached here for the batch:
//
// - sessions: read once, changed in memory, written once by `flush()` (a
//   session created by the batch is inserted, then patched at the end in the
//   same transaction, which commits it once); a completed session's
//   `summary` is rewritten from its counts in that same write;
// - cameras: read once; their writes go through at once and into the cache,
//   which finds a camera by key and by device (a replacement changes its
//   device: the old device's entry is then "none");
// - receipts: the whole batch's are read up front (receipts.ts).
//
// Everything that applies events reads sessions and cameras only through
// this class, so what it sees is what the batch has done so far.
import type { Doc, Id } from "./_generated/dataModel";
import type { MutationCtx } from "./_generated/server";
import { findReceipt, type Receipt } from "./receipts";

type Session = Doc<"productionSessions">;
type Camera = Doc<"productionCameras">;

export class Batch {
  private sessions = new Map<string, Session | null>();
  private dirty = new Set<string>();
  private cameras = new Map<string, Camera | null>();
  private receipts = new Map<string, Receipt | null>();

  constructor(
    readonly ctx: MutationCtx,
    readonly now: number,
  ) {}

  get db() {
    return this.ctx.db;
  }

  // --- receipts -----------------------------------------------------------

  /** Reads the receipts of these event ids, once each. */
  async preloadReceipts(eventIds: string[]) {
    for (const eventId of new Set(eventIds)) await this.receipt(eventId);
  }

  async receipt(eventId: string): Promise<Receipt | null> {
    if (!this.receipts.has(eventId)) {
      this.receipts.set(eventId, await findReceipt(this.db, eventId));
    }
    return this.receipts.get(eventId) ?? null;
  }

  /** What `receipts.record` wrote, so that the batch reads it back. */
  rememberReceipt(receipt: Receipt) {
    this.receipts.set(receipt.eventId, receipt);
  }

  // --- sessions -----------------------------------------------------------

  async session(sessionKey: string): Promise<Session | null> {
    if (!this.sessions.has(sessionKey)) {
      const row = await this.db
        .query("productionSessions")
        .withIndex("by_sessionKey", (q) => q.eq("sessionKey", sessionKey))
        .unique();
      this.sessions.set(sessionKey, row);
    }
    return this.sessions.get(sessionKey) ?? null;
  }

  async insertSession(
    fields: Omit<Session, "_id" | "_creationTime">,
  ): Promise<Id<"productionSessions">> {
    const id = await this.db.insert("productionSessions", fields);
    this.sessions.set(fields.sessionKey, {
      ...fields,
      _id: id,
      _creationTime: this.now,
    });
    return id;
  }

  /** Changes a session in memory; `flush()` writes it. */
  setSession(session: Session, patch: Partial<Session>) {
    const current = this.sessions.get(session.sessionKey) ?? session;
    this.sessions.set(session.sessionKey, {
      ...current,
      ...patch,
      updatedAt: this.now,
    });
    this.dirty.add(session.sessionKey);
  }

  /** Adds to a session's counters. */
  async count(sessionKey: string, deltas: Partial<Session["counts"]>) {
    const session = await this.session(sessionKey);
    if (session === null) throw new Error(`count: no session ${sessionKey}`);
    const counts = { ...session.counts };
    for (const [k, d] of Object.entries(deltas)) {
      counts[k as keyof typeof counts] += d ?? 0;
    }
    this.setSession(session, { counts });
  }

  /** Writes every session the batch changed, once each. */
  async flush() {
    for (const key of this.dirty) {
      const s = this.sessions.get(key);
      if (!s) continue;
      const { _id, _creationTime, ...fields } = s;
      const summary =
        s.status === "completed" && s.completedAt !== undefined
          ? {
              durationMs: Math.max(0, s.completedAt - s.startedAt),
              ...s.counts,
            }
          : undefined;
      await this.db.replace(_id, { ...fields, ...(summary ? { summary } : {}) });
    }
    this.dirty.clear();
  }

  // --- cameras ------------------------------------------------------------

  private static cameraKey(sessionKey: string, cameraKey: string) {
    return `k/${sessionKey}/${cameraKey}`;
  }
  private static deviceKey(sessionKey: string, deviceId: string) {
    return `d/${sessionKey}/${deviceId}`;
  }

  private remember(camera: Camera) {
    this.cameras.set(Batch.cameraKey(camera.sessionKey, camera.cameraKey), camera);
    this.cameras.set(Batch.deviceKey(camera.sessionKey, camera.deviceId), camera);
  }

  /** The camera `cameraKey` of a session, or null. */
  async camera(sessionKey: string, cameraKey: string): Promise<Camera | null> {
    const k = Batch.cameraKey(sessionKey, cameraKey);
    if (!this.cameras.has(k)) {
      const row = await this.db
        .query("productionCameras")
        .withIndex("by_session_camera", (q) =>
          q.eq("sessionKey", sessionKey).eq("cameraKey", cameraKey),
        )
        .unique();
      this.cameras.set(k, row);
      if (row) this.remember(row);
    }
    return this.cameras.get(k) ?? null;
  }

  /** The camera a device holds in a session, or null. */
  async cameraOfDevice(sessionKey: string, deviceId: string): Promise<Camera | null> {
    const k = Batch.deviceKey(sessionKey, deviceId);
    if (!this.cameras.has(k)) {
      const row = await this.db
        .query("productionCameras")
        .withIndex("by_session_device", (q) =>
          q.eq("sessionKey", sessionKey).eq("deviceId", deviceId),
        )
        .first();
      this.cameras.set(k, row);
      if (row) this.remember(row);
    }
    return this.cameras.get(k) ?? null;
  }

  async insertCamera(fields: Omit<Camera, "_id" | "_creationTime">) {
    const id = await this.db.insert("productionCameras", fields);
    this.remember({ ...fields, _id: id, _creationTime: this.now });
    return id;
  }

  async patchCamera(camera: Camera, patch: Partial<Camera>) {
    const current =
      this.cameras.get(Batch.cameraKey(camera.sessionKey, camera.cameraKey)) ?? camera;
    await this.db.patch(camera._id, patch);
    const next = { ...current, ...patch };
    if (next.deviceId !== current.deviceId) {
      // A replacement (apply/registry.ts): the old device holds it no more.
      this.cameras.set(Batch.deviceKey(current.sessionKey, current.deviceId), null);
    }
    this.remember(next);
    return next;
  }
}
