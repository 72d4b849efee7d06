// A whole shoot through ingest:applyBatch, read back through ledger:session,
// and replayed.
import { beforeEach, describe, expect, test, vi } from "vitest";
import {
  NOW,
  internal,
  apply,
  applied,
  bare,
  dump,
  duplicateOf,
  events,
  rejected,
  rows,
  setup,
} from "./harness.helpers";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  return () => vi.useRealTimers();
});

function shoot() {
  const e = events();
  const P1 = { x: 1.5, y: -2, z: 0, heightM: 1.6, panDeg: -30, tiltDeg: -5, focalLengthMm: 24, orientation: "landscape_left" as const };
  const P2 = { distanceM: 3.2, zoom: 2, rollDeg: 0, notes: "on the stairs" };
  const batch = [
    /* 1 */ e.register("d1", { name: "Ana's iPhone", model: "iPhone 16 Pro", appVersion: "2.3.0", hardwareId: "hw-1" }),
    /* 2 */ e.register("d2", { name: "Studio iPad", platform: "ipados" }),
    /* 3 */ e.start("s1", "Spring lookbook", { notes: "rooftop", location: "Berlin" }),
    /* 4 */ e.join("s1", "A", "d1", { role: "hero", placement: P1, clockOffsetMs: 12 }),
    /* 5 */ e.join("s1", "B", "d2", { role: "wide" }),
    /* 6 */ e.cut("s1", "A"),
    /* 7 */ e.cue("s1", "look left", { cueKind: "look" }),
    /* 8 */ e.holdStart("s1", "h1", "A"),
    /* 9 */ e.cut("s1", "B", { fromCameraKey: "A", transition: "dissolve", transitionMs: 400 }),
    /* 10 */ e.holdEnd("s1", "h1"),
    /* 11 */ e.still("s1", "st1", "A", { width: 6000, height: 4000, contentType: "image/heic" }),
    /* 12 */ e.marker("s1", "take 2"),
    /* 13 */ e.note("s1", "sun behind clouds"),
    /* 14 */ e.place("s1", "d2", P2, { clockOffsetMs: -40 }),
    /* 15 */ e.uploaded("s1", "st1", "s3://stills/st1.heic", { byteSize: 4_200_000, sha256: "ab".repeat(32), url: "https://cdn.example/st1.heic" }),
    /* 16 */ e.holdStart("s1", "h2", "B"),
    /* 17 */ e.complete("s1"),
  ];
  return { e, batch, P1, P2 };
}

describe("a whole shoot", () => {
  test("every event applies with the expected verdict, sequence and ledger ids", async () => {
    const t = setup();
    const { batch } = shoot();
    const verdicts = await apply(t, batch);

    const sessions = await rows(t, "productionSessions");
    const devices = await rows(t, "productionDevices");
    const cameras = await rows(t, "productionCameras");
    const placements = await rows(t, "productionCameraPlacements");
    const director = await rows(t, "productionDirectorEvents");
    const stills = await rows(t, "productionStills");
    const dev = (id: string) => devices.find((d) => d.deviceId === id)!._id;
    const cam = (k: string) => cameras.find((c) => c.cameraKey === k)!._id;
    const de = (i: number) => director.find((d) => d.eventId === batch[i - 1].eventId)!._id;
    const s1 = sessions[0]._id;

    expect(sessions).toHaveLength(1);
    expect(devices).toHaveLength(2);
    expect(cameras).toHaveLength(2);
    expect(placements).toHaveLength(2);
    expect(director).toHaveLength(9);
    expect(stills).toHaveLength(1);

    const id = (i: number) => batch[i - 1].eventId;
    expect(verdicts).toEqual([
      applied(id(1), { productionDevices: dev("d1") }),
      applied(id(2), { productionDevices: dev("d2") }),
      applied(id(3), { productionSessions: s1 }),
      applied(id(4), { productionCameras: cam("A"), productionCameraPlacements: placements[0]._id }),
      applied(id(5), { productionCameras: cam("B") }),
      applied(id(6), { productionDirectorEvents: de(6) }, 1),
      applied(id(7), { productionDirectorEvents: de(7) }, 2),
      applied(id(8), { productionDirectorEvents: de(8) }, 3),
      applied(id(9), { productionDirectorEvents: de(9) }, 4),
      applied(id(10), { productionDirectorEvents: de(10) }, 5),
      applied(id(11), { productionDirectorEvents: de(11), productionStills: stills[0]._id }, 6),
      applied(id(12), { productionDirectorEvents: de(12) }, 7),
      applied(id(13), { productionDirectorEvents: de(13) }, 8),
      applied(id(14), { productionCameras: cam("B"), productionCameraPlacements: placements[1]._id }),
      applied(id(15), { productionStills: stills[0]._id }),
      applied(id(16), { productionDirectorEvents: de(16) }, 9),
      applied(id(17), { productionSessions: s1 }),
    ]);

    // Every event has a receipt with its first verdict.
    const receipts = await rows(t, "ingestReceipts");
    expect(receipts.map((r) => [r.eventId, r.type, r.verdict, r.sequence])).toEqual(
      batch.map((ev, i) => [ev.eventId, ev.type, "applied", verdicts[i].sequence]),
    );
    expect(receipts.every((r) => r.appliedAt === NOW)).toBe(true);
  });

  test("ledger:session returns the session, cameras, placement history, events in sequence order and stills", async () => {
    const t = setup();
    const { batch, P1, P2 } = shoot();
    await apply(t, batch);
    const at = (i: number) => batch[i - 1].at;
    const id = (i: number) => batch[i - 1].eventId;

    const got = await t.query(internal.ledger.session, { sessionKey: "s1" });
    expect(got).not.toBeNull();
    const { session, cameras, placements, events: evs, stills } = got!;

    expect(bare(session)).toEqual({
      sessionKey: "s1",
      kind: "photoshoot_performance",
      status: "completed",
      title: "Spring lookbook",
      notes: "rooftop",
      location: "Berlin",
      startedAt: at(3),
      startedReceivedAt: at(3) + 5,
      startEventId: id(3),
      updatedAt: NOW,
      heroCameraKey: "B",
      lastSequence: 9,
      counts: { cameras: 2, cuts: 2, holds: 2, stills: 1, cues: 1 },
      completedAt: at(17),
      completedReceivedAt: at(17) + 5,
      completeEventId: id(17),
      summary: {
        durationMs: at(17) - at(3),
        cameras: 2,
        cuts: 2,
        holds: 2,
        stills: 1,
        cues: 1,
        events: 9,
        holdsClosedOnComplete: 1,
      },
    });
    expect(session.summary!.durationMs).toBe(14_000);

    expect(cameras.map(bare)).toEqual([
      {
        sessionKey: "s1", cameraKey: "A", deviceId: "d1", role: "hero", live: false,
        placement: P1, placementVersion: 1, clockOffsetMs: 12,
        joinedAt: at(4), joinedReceivedAt: at(4) + 5, joinEventId: id(4),
        updatedAt: NOW, lastEventId: id(4),
      },
      {
        sessionKey: "s1", cameraKey: "B", deviceId: "d2", role: "wide", live: false,
        placement: P2, placementVersion: 1, clockOffsetMs: -40,
        joinedAt: at(5), joinedReceivedAt: at(5) + 5, joinEventId: id(5),
        updatedAt: NOW, lastEventId: id(14),
      },
    ]);

    expect(placements.map(bare)).toEqual([
      { sessionKey: "s1", cameraKey: "A", deviceId: "d1", version: 1, placement: P1, at: at(4), receivedAt: at(4) + 5, appliedAt: NOW, eventId: id(4) },
      { sessionKey: "s1", cameraKey: "B", deviceId: "d2", version: 1, placement: P2, at: at(14), receivedAt: at(14) + 5, appliedAt: NOW, eventId: id(14) },
    ]);

    const common = (i: number, sequence: number) => ({
      eventId: id(i), sessionKey: "s1", sequence, at: at(i), receivedAt: at(i) + 5, appliedAt: NOW,
    });
    const still = stills[0];
    expect(evs.map(bare)).toEqual([
      { ...common(6, 1), type: "cut", cameraKey: "A" },
      { ...common(7, 2), type: "cue", cueKind: "look", label: "look left" },
      {
        ...common(8, 3), type: "hold_start", cameraKey: "A", holdId: "h1", holdOpen: false,
        holdClosedAt: at(10), holdClosedBy: "hold_end", holdCloseEventId: id(10),
      },
      { ...common(9, 4), type: "cut", cameraKey: "B", fromCameraKey: "A", transition: "dissolve", transitionMs: 400 },
      {
        ...common(10, 5), type: "hold_end", holdId: "h1", cameraKey: "A",
        holdStartEventId: id(8), holdDurationMs: at(10) - at(8),
      },
      { ...common(11, 6), type: "still", cameraKey: "A", stillId: "st1", stillRowId: still._id },
      { ...common(12, 7), type: "marker", label: "take 2" },
      { ...common(13, 8), type: "note", text: "sun behind clouds" },
      {
        ...common(16, 9), type: "hold_start", cameraKey: "B", holdId: "h2", holdOpen: false,
        holdClosedAt: at(17), holdClosedBy: "complete_session", holdCloseEventId: id(17),
      },
    ]);

    // The still row and its director event point at each other; the upload
    // completed that same row.
    expect(stills).toHaveLength(1);
    const stillEvent = evs.find((x) => x.type === "still")!;
    expect(bare(still)).toEqual({
      stillId: "st1", sessionKey: "s1", cameraKey: "A", deviceId: "d1",
      capturedAt: at(11) - 200, width: 6000, height: 4000,
      byteSize: 4_200_000, contentType: "image/heic", sha256: "ab".repeat(32),
      storageRef: "s3://stills/st1.heic", url: "https://cdn.example/st1.heic",
      directorEventId: stillEvent._id, markerEventId: id(11),
      uploadStatus: "uploaded", uploadedAt: at(15), uploadedReceivedAt: at(15) + 5, uploadEventId: id(15),
      createdAt: NOW, updatedAt: NOW,
    });
    expect(stillEvent.stillRowId).toBe(still._id);
  });

  test("ledger:session is null for an unknown session; ledger:receipt null for an unknown event", async () => {
    const t = setup();
    expect(await t.query(internal.ledger.session, { sessionKey: "nope" })).toBeNull();
    expect(await t.query(internal.ledger.receipt, { eventId: "nope" })).toBeNull();
  });

  test("ledger:receipt returns the first verdict of an event", async () => {
    const t = setup();
    const e = events();
    const start = e.start("s1");
    const bad = e.cut("s1", "Z");
    await apply(t, [start, bad]);
    const r = await t.query(internal.ledger.receipt, { eventId: bad.eventId });
    expect(bare(r!)).toEqual({
      eventId: bad.eventId, type: "cut", verdict: "rejected",
      code: "camera_not_in_session", message: "camera Z has not joined session s1",
      sessionKey: "s1", at: bad.at, receivedAt: bad.receivedAt, appliedAt: NOW,
    });
    const ok = await t.query(internal.ledger.receipt, { eventId: start.eventId });
    const session = (await rows(t, "productionSessions"))[0];
    expect(bare(ok!)).toEqual({
      eventId: start.eventId, type: "start_shoot", verdict: "applied",
      ledgerIds: { productionSessions: session._id },
      sessionKey: "s1", at: start.at, receivedAt: start.receivedAt, appliedAt: NOW,
    });
  });
});

describe("idempotence", () => {
  test("replaying the whole batch changes no row and answers duplicate with the first verdicts", async () => {
    const t = setup();
    const { batch } = shoot();
    const first = await apply(t, batch);
    const before = await dump(t);

    vi.setSystemTime(NOW + 60_000); // a later re-send
    const again = await apply(t, batch);
    expect(again).toEqual(first.map(duplicateOf));
    expect(await dump(t)).toEqual(before);

    // Re-sent in other splits and orders: still nothing changes.
    const halves = [...(await apply(t, batch.slice(9))), ...(await apply(t, batch.slice(0, 9)))];
    expect(halves).toEqual([...first.slice(9), ...first.slice(0, 9)].map(duplicateOf));
    expect(await dump(t)).toEqual(before);
  });

  test("a replayed rejection is a duplicate carrying the original code and message", async () => {
    const t = setup();
    const e = events();
    const batch = [e.start("s1"), e.holdEnd("s1", "h9"), e.marker("s1")];
    const first = await apply(t, batch);
    expect(first[1]).toEqual(rejected(batch[1].eventId, "hold_not_open", "hold h9 is not open in session s1"));
    const before = await dump(t);

    // Even after the hold becomes open, the replay answers the first verdict.
    await apply(t, [e.join("s1", "A", "d1")]); // rejected: device_not_found (unregistered)
    await apply(t, [e.register("d1"), e.join("s1", "A", "d1"), e.holdStart("s1", "h9", "A")]);
    const replay = await apply(t, [batch[1]]);
    expect(replay).toEqual([
      {
        eventId: batch[1].eventId, verdict: "duplicate", original: "rejected",
        code: "hold_not_open", message: "hold h9 is not open in session s1",
      },
    ]);
    const after = await dump(t);
    expect(after.ingestReceipts).toHaveLength(before.ingestReceipts.length + 4);
    expect((after.productionDirectorEvents as unknown[]).length).toBe(2);
  });

  test("the same eventId twice in one batch: applied once, then duplicate", async () => {
    const t = setup();
    const e = events();
    const start = e.start("s1");
    const m = e.marker("s1");
    const verdicts = await apply(t, [start, m, m, { ...m, label: "different payload, same id" }]);
    expect(verdicts[1]).toMatchObject({ verdict: "applied", sequence: 1 });
    expect(verdicts[2]).toEqual(duplicateOf(verdicts[1]));
    expect(verdicts[3]).toEqual(duplicateOf(verdicts[1]));
    const director = await rows(t, "productionDirectorEvents");
    expect(director.map((d) => [d.sequence, d.label])).toEqual([[1, "take 1"]]);
    expect((await rows(t, "productionSessions"))[0].lastSequence).toBe(1);
  });
});

describe("sequence", () => {
  test("per session, from 1, without gaps for rejected events, only for director events", async () => {
    const t = setup();
    const e = events();
    const v = await apply(t, [
      e.register("d1"),
      e.register("d2"),
      e.start("s1"),
      e.start("s2"),
      e.join("s1", "A", "d1"),
      e.join("s2", "A", "d2"),
      e.marker("s1"), // s1 #1
      e.cut("s2", "A"), // s2 #1
      e.cut("s1", "nope"), // rejected
      e.note("s1"), // s1 #2
      e.cue("s2"), // s2 #2
      e.holdStart("s1", "h", "A"), // s1 #3
      e.holdEnd("s1", "h"), // s1 #4
      e.still("s2", "x", "A"), // s2 #3
      e.uploaded("s2", "x", "ref"), // no sequence
      e.start("s1", "renamed"), // no sequence
    ]);
    expect(v.map((x) => x.sequence)).toEqual([
      undefined, undefined, undefined, undefined, undefined, undefined,
      1, 1, undefined, 2, 2, 3, 4, 3, undefined, undefined,
    ]);
    expect(v[8]).toEqual(rejected(e.id(9), "camera_not_in_session", "camera nope has not joined session s1"));
    const s1 = await t.query(internal.ledger.session, { sessionKey: "s1" });
    const s2 = await t.query(internal.ledger.session, { sessionKey: "s2" });
    expect(s1!.events.map((x) => [x.sequence, x.type])).toEqual([
      [1, "marker"], [2, "note"], [3, "hold_start"], [4, "hold_end"],
    ]);
    expect(s2!.events.map((x) => [x.sequence, x.type])).toEqual([[1, "cut"], [2, "cue"], [3, "still"]]);
    expect([s1!.session.lastSequence, s2!.session.lastSequence]).toEqual([4, 3]);
  });
});

describe("batch shape", () => {
  test("an empty batch or one over 500 events throws (caller bug); a bad event shape fails validation", async () => {
    const t = setup();
    const e = events();
    await expect(apply(t, [])).rejects.toThrow("applyBatch takes 1..=500 events, got 0");
    const many = Array.from({ length: 501 }, () => e.marker("s1"));
    await expect(apply(t, many)).rejects.toThrow("applyBatch takes 1..=500 events, got 501");
    await expect(
      apply(t, [{ ...e.marker("s1"), type: "explode" } as never]),
    ).rejects.toThrow();
    await expect(
      apply(t, [{ ...e.marker("s1"), extra: 1 } as never]),
    ).rejects.toThrow();
    expect((await dump(t)).ingestReceipts).toEqual([]);
  });

  test("500 events in one batch apply", async () => {
    const t = setup();
    const e = events();
    const batch = [e.start("s1"), ...Array.from({ length: 499 }, (_, i) => e.marker("s1", `m${i}`))];
    const v = await apply(t, batch);
    expect(v).toHaveLength(500);
    expect(v.every((x) => x.verdict === "applied")).toBe(true);
    expect(v[499].sequence).toBe(499);
  });
});
