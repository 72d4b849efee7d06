// The random shoots of the order-independence model (order.test.ts), also
// the source of the conformance corpus's model scenarios (conformance.test.ts).
// Not a test file itself (the second dot keeps it from being deployed).
import type { Placement, WireEvent } from "../wire";
import { NOW } from "./harness.helpers";

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <X>(xs: readonly X[]): X => xs[Math.floor(next() * xs.length)],
    chance: (p: number) => next() < p,
  };
}
export type Rng = ReturnType<typeof rng>;

const ROLES = ["hero", "wide", "close", "detail", "overhead", "other"] as const;

function placement(r: Rng): Placement {
  const p: Placement = {};
  if (r.chance(0.7)) p.x = r.int(-50, 50) / 2;
  if (r.chance(0.5)) p.heightM = r.int(0, 40) / 10;
  if (r.chance(0.5)) p.panDeg = r.int(-180, 180);
  if (r.chance(0.3)) p.notes = `spot ${r.int(1, 9)}`;
  if (Object.keys(p).length === 0) p.focalLengthMm = r.pick([24, 35, 50, 85]);
  return p;
}

/** A shoot, in the order the service accepted it (timeline order). */
export function shoot(seed: number): WireEvent[] {
  const r = rng(seed);
  const instances = ["ia", "ib", "ic"].slice(0, r.int(2, 3));
  const seqs = new Map<string, number>();
  let clock = NOW - 3_600_000;
  let n = 0;
  const out: WireEvent[] = [];
  type Fields = WireEvent extends infer E ? (E extends WireEvent ? Omit<E, "eventId" | "at" | "receivedAt" | "instance" | "seq"> : never) : never;
  function add(fields: Fields) {
    clock += r.int(1, 900);
    const instance = r.pick(instances);
    const seq = (seqs.get(instance) ?? 0) + 1;
    seqs.set(instance, seq);
    n += 1;
    const eventId = `${seed.toString(16).padStart(8, "0")}-0000-4000-8000-${String(n).padStart(12, "0")}`;
    out.push({ eventId, at: clock - r.int(0, 40), receivedAt: clock, instance, seq, ...fields } as WireEvent);
  }

  const devices = Array.from({ length: r.int(2, 4) }, (_, i) => `d${i + 1}`);
  for (const d of devices) {
    add({ type: "register_device", deviceId: d, name: `Phone ${d}`, platform: "ios", model: "iPhone", hardwareId: `hw-${d}` });
  }
  if (r.chance(0.6)) {
    const d = r.pick(devices);
    add({ type: "register_device", deviceId: d, name: `Phone ${d} (renamed)`, platform: "ios", appVersion: "2.0" });
  }

  const sessions = r.chance(0.4) ? ["s1", "s2"] : ["s1"];
  for (const [si, s] of sessions.entries()) {
    add({ type: "start_shoot", sessionKey: s, title: `Shoot ${s}` });
    if (r.chance(0.3)) add({ type: "start_shoot", sessionKey: s, title: `Shoot ${s}, retitled`, location: "Berlin" });
    const joined = devices.filter(() => r.chance(0.8));
    if (joined.length === 0) joined.push(devices[0]);
    const cameras = joined.map((d, i) => ({ deviceId: d, cameraKey: "ABCD"[i] }));
    for (const c of cameras) {
      add({
        type: "join_session",
        sessionKey: s,
        ...c,
        role: r.pick(ROLES),
        ...(r.chance(0.5) ? { placement: placement(r) } : {}),
        ...(r.chance(0.4) ? { clockOffsetMs: r.int(-80, 80) } : {}),
      });
    }
    const holds = new Map<string, boolean>(); // holdId -> open
    const stills: { id: string; uploaded: boolean }[] = [];
    let hero: string | undefined;
    const body = r.int(8, 40);
    for (let i = 0; i < body; i++) {
      const c = r.pick(cameras);
      const what = r.int(0, 9);
      if (what <= 2) {
        add({
          type: "cut",
          sessionKey: s,
          cameraKey: c.cameraKey,
          ...(hero !== undefined && r.chance(0.5) ? { fromCameraKey: hero } : {}),
          ...(r.chance(0.3) ? { transition: "dissolve", transitionMs: 300 } : {}),
        });
        hero = c.cameraKey;
      } else if (what === 3) {
        const ids = [...holds.keys()];
        const open = ids.filter((h) => holds.get(h));
        const closed = ids.filter((h) => !holds.get(h));
        if (open.length > 0 && r.chance(0.6)) {
          const h = r.pick(open);
          add({ type: "hold_end", sessionKey: s, holdId: h });
          holds.set(h, false);
        } else {
          // A new hold, or a closed one opened again under the same id.
          const h = closed.length > 0 && r.chance(0.4) ? r.pick(closed) : `h${holds.size + 1}`;
          add({ type: "hold_start", sessionKey: s, holdId: h, cameraKey: c.cameraKey });
          holds.set(h, true);
        }
      } else if (what === 4) {
        add({ type: "cue", sessionKey: s, cueKind: "pose", label: `cue ${i}` });
      } else if (what === 5) {
        add(r.chance(0.5) ? { type: "marker", sessionKey: s, label: `take ${i}` } : { type: "note", sessionKey: s, text: `note ${i}` });
      } else if (what === 6) {
        add({ type: "update_placement", sessionKey: s, deviceId: c.deviceId, placement: placement(r), ...(r.chance(0.5) ? { clockOffsetMs: r.int(-80, 80) } : {}) });
      } else if (what === 7) {
        const id = `${s}-st${stills.length + 1}`;
        stills.push({ id, uploaded: false });
        add({ type: "still_marker", sessionKey: s, stillId: id, cameraKey: c.cameraKey, capturedAt: clock - 100, width: 6000, height: 4000 });
      } else if (stills.length > 0) {
        const st = r.pick(stills);
        add({
          type: "still_uploaded",
          sessionKey: s,
          stillId: st.id,
          storageRef: `s3://stills/${st.id}${st.uploaded ? "-v2" : ""}.heic`,
          ...(r.chance(0.5) ? { sha256: "ab".repeat(32) } : {}),
          ...(r.chance(0.5) ? { byteSize: r.int(1, 9) * 1_000_000 } : {}),
        });
        st.uploaded = true;
      }
    }
    const last = si === sessions.length - 1;
    if (!last || r.chance(0.7)) add({ type: "complete_session", sessionKey: s });
  }
  return out;
}

/** Batches: each instance's journal in order, or all shuffled; with duplicates. */
export function deliveries(seed: number, events: WireEvent[]): WireEvent[][] {
  const r = rng(seed ^ 0x5eed);
  const cut = (xs: WireEvent[]) => {
    const out: WireEvent[][] = [];
    for (let i = 0; i < xs.length; ) {
      const n = r.pick([1, 1, 2, 3, 5, 8, 20, 60]);
      out.push(xs.slice(i, i + n));
      i += n;
    }
    return out;
  };
  let batches: WireEvent[][];
  if (r.chance(0.5)) {
    const all = [...events];
    for (let i = all.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [all[i], all[j]] = [all[j], all[i]];
    }
    batches = cut(all);
  } else {
    const queues = [...new Set(events.map((e) => e.instance))].map((i) => cut(events.filter((e) => e.instance === i)));
    batches = [];
    while (queues.some((q) => q.length > 0)) {
      const q = r.pick(queues.filter((q) => q.length > 0));
      batches.push(q.shift()!);
    }
  }
  const dups = r.int(0, 3);
  for (let i = 0; i < dups && batches.length > 0; i++) {
    const at = r.int(0, batches.length);
    batches.splice(at, 0, [...r.pick(batches)]);
  }
  return batches;
}

