// A whole shoot through ingest:applyBatch, read back through the paged reads,
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
  plain,
  readSession,
  rejected,
  rows,
  setup,
  timelineKey,
  waiting,
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
  test("every event applies with the expected verdict and ledger ids", async () => {
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
      applied(id(6), { productionDirectorEvents: de(6) }),
      applied(id(7), { productionDirectorEvents: de(7) }),
      applied(id(8), { productionDirectorEvents: de(8) }),
      applied(id(9), { productionDirectorEvents: de(9) }),
      applied(id(10), { productionDirectorEvents: de(10) }),
      applied(id(11), { productionDirectorEvents: de(11), productionStills: stills[0]._id }),
      applied(id(12), { productionDirectorEvents: de(12) }),
      applied(id(13), { productionDirectorEvents: de(13) }),
      applied(id(14), { productionCameras: cam("B"), productionCameraPlacements: placements[1]._id }),
      applied(id(15), { productionStills: stills[0]._id }),
      applied(id(16), { productionDirectorEvents: de(16) }),
      applied(id(17), { productionSessions: s1 }),
    ]);

    // Every event has a receipt with its first verdict: a director event's
    // is its row, every other event's a row of ingestReceipts.
    const receipts = await t.query(internal.ledger.receipts, { eventIds: batch.map((ev) => ev.eventId) });
    expect(receipts.map((r) => [r!.eventId, r!.type, r!.verdict, r!.timeline])).toEqual(
      batch.map((ev) => [ev.eventId, ev.type, "applied", timelineKey(ev)]),
    );
    expect(receipts.every((r) => r!.appliedAt === NOW)).toBe(true);
    expect((await rows(t, "ingestReceipts")).map((r) => r.type).sort()).toEqual([
      "complete_session", "join_session", "join_session", "register_device", "register_device",
      "start_shoot", "still_uploaded", "update_placement",
    ]);
  });

  test("the paged reads return the session, cameras, placement history, events and stills in timeline order", async () => {
    const t = setup();
    const { batch, P1, P2 } = shoot();
    await apply(t, batch);
    const at = (i: number) => batch[i - 1].at;
    const id = (i: number) => batch[i - 1].eventId;
    const tl = (i: number) => timelineKey(batch[i - 1]);

    const got = await readSession(t, "s1");
    expect(got).not.toBeNull();
    const { session, cameras, placements, events: evs, stills } = got!;

    expect(plain(session)).toEqual({
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
      heroTimeline: tl(9),
      counts: { cameras: 2, cuts: 2, holds: 2, stills: 1, cues: 1, events: 9, holdsClosedOnComplete: 1 },
      completedAt: at(17),
      completedReceivedAt: at(17) + 5,
      completeEventId: id(17),
      completedTimeline: tl(17),
      completedAppliedAt: NOW,
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

    expect(cameras.map(plain)).toEqual([
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
      { sessionKey: "s1", cameraKey: "A", deviceId: "d1", version: 1, placement: P1, clockOffsetMs: 12, at: at(4), receivedAt: at(4) + 5, appliedAt: NOW, eventId: id(4), timeline: tl(4) },
      { sessionKey: "s1", cameraKey: "B", deviceId: "d2", version: 1, placement: P2, clockOffsetMs: -40, at: at(14), receivedAt: at(14) + 5, appliedAt: NOW, eventId: id(14), timeline: tl(14) },
    ]);

    const common = (i: number) => ({
      eventId: id(i), sessionKey: "s1", timeline: tl(i), at: at(i), receivedAt: at(i) + 5, appliedAt: NOW,
    });
    const still = stills[0];
    expect(evs.map(bare)).toEqual([
      { ...common(6), type: "cut", cameraKey: "A" },
      { ...common(7), type: "cue", cueKind: "look", label: "look left" },
      {
        ...common(8), type: "hold_start", cameraKey: "A", holdId: "h1", holdOpen: false,
        holdClosedAt: at(10), holdClosedBy: "hold_end", holdCloseEventId: id(10),
      },
      { ...common(9), type: "cut", cameraKey: "B", fromCameraKey: "A", transition: "dissolve", transitionMs: 400 },
      {
        ...common(10), type: "hold_end", holdId: "h1", cameraKey: "A",
        holdStartEventId: id(8), holdDurationMs: at(10) - at(8),
      },
      { ...common(11), type: "still", cameraKey: "A", stillId: "st1", stillRowId: still._id },
      { ...common(12), type: "marker", label: "take 2" },
      { ...common(13), type: "note", text: "sun behind clouds" },
      {
        ...common(16), type: "hold_start", cameraKey: "B", holdId: "h2", holdOpen: false,
        holdClosedAt: at(17), holdClosedBy: "complete_session", holdCloseEventId: id(17),
      },
    ]);

    // The still row and its director event point at each other; the upload
    // completed that same row.
    expect(stills).toHaveLength(1);
    const stillEvent = evs.find((x) => x.type === "still")!;
    expect(plain(still)).toEqual({
      stillId: "st1", sessionKey: "s1", cameraKey: "A", deviceId: "d1",
      capturedAt: at(11) - 200, width: 6000, height: 4000,
      byteSize: 4_200_000, contentType: "image/heic", sha256: "ab".repeat(32),
      storageRef: "s3://stills/st1.heic", url: "https://cdn.example/st1.heic",
      directorEventId: stillEvent._id, markerEventId: id(11),
      uploadStatus: "uploaded", uploadedAt: at(15), uploadedReceivedAt: at(15) + 5, uploadEventId: id(15),
      createdAt: NOW, updatedAt: NOW, timeline: tl(11),
    });
    expect(stillEvent.stillRowId).toBe(still._id);
    // The upload's fields carry the upload's timeline key (lww.ts).
    expect(still.timelines).toEqual(
      Object.fromEntries(
        ["storageRef", "byteSize", "sha256", "url", "uploadedAt", "uploadedReceivedAt", "uploadEventId"].map((f) => [f, tl(15)]),
      ),
    );
  });

  test("ledger:sessionHeader is null for an unknown session; ledger:receipt null for an unknown event", async () => {
    const t = setup();
    expect(await t.query(internal.ledger.sessionHeader, { sessionKey: "nope" })).toBeNull();
    expect(await t.query(internal.ledger.receipt, { eventId: "nope" })).toBeNull();
  });

  test("ledger:receipt returns the current verdict of an event; a waiting one holds the event", async () => {
    const t = setup();
    const e = events();
    const start = e.start("s1");
    const bad = e.cut("s1", "Z");
    await apply(t, [start, bad]);
    const r = await t.query(internal.ledger.receipt, { eventId: bad.eventId });
    const { _id, _creationTime, ...waitingReceipt } = r as Record<string, unknown>;
    expect(waitingReceipt).toEqual({
      eventId: bad.eventId, type: "cut", verdict: "waiting",
      code: "camera_not_in_session", message: "camera Z has not joined session s1",
      waitingFor: { kind: "camera", key: "s1/Z" }, waitsFor: "camera:s1/Z", waitSession: "s1", event: bad,
      timeline: timelineKey(bad), sessionKey: "s1", at: bad.at, receivedAt: bad.receivedAt, appliedAt: NOW,
    });
    const [both] = await t.query(internal.ledger.receipts, { eventIds: [bad.eventId, "nope"] }).then((x) => [x]);
    expect(both.map((x) => x?.verdict ?? null)).toEqual(["waiting", null]);
    const ok = await t.query(internal.ledger.receipt, { eventId: start.eventId });
    const session = (await rows(t, "productionSessions"))[0];
    const { _id: _i, _creationTime: _c, ...okReceipt } = ok as Record<string, unknown>;
    expect(okReceipt).toEqual({
      eventId: start.eventId, type: "start_shoot", verdict: "applied",
      ledgerIds: { productionSessions: session._id }, timeline: timelineKey(start),
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
    const batch = [e.start("s1"), e.complete("s1"), e.marker("s1")];
    const first = await apply(t, batch);
    expect(first[2]).toEqual(rejected(batch[2].eventId, "session_completed", "session s1 is completed; it takes no more writes"));
    const before = await dump(t);
    const replay = await apply(t, [batch[2]]);
    expect(replay).toEqual([
      {
        eventId: batch[2].eventId, verdict: "duplicate", original: "rejected",
        code: "session_completed", message: "session s1 is completed; it takes no more writes",
      },
    ]);
    expect(await dump(t)).toEqual(before);
  });

  test("a re-sent waiting event answers waiting again, and settles nothing", async () => {
    const t = setup();
    const e = events();
    const end = e.holdEnd("s1", "h9");
    const first = await apply(t, [e.start("s1"), end]);
    const w = waiting(end.eventId, "hold", "s1/h9", "hold_not_open", "hold h9 is not open in session s1");
    expect(first[1]).toEqual(w);
    const before = await dump(t);
    expect(await apply(t, [end])).toEqual([w]);
    expect(await dump(t)).toEqual(before);
  });

  test("the same eventId twice in one batch: applied once, then duplicate", async () => {
    const t = setup();
    const e = events();
    const start = e.start("s1");
    const m = e.marker("s1");
    const verdicts = await apply(t, [start, m, m, { ...m, label: "different payload, same id" }]);
    expect(verdicts[1]).toMatchObject({ verdict: "applied" });
    expect(verdicts[2]).toEqual(duplicateOf(verdicts[1]));
    expect(verdicts[3]).toEqual(duplicateOf(verdicts[1]));
    const director = await rows(t, "productionDirectorEvents");
    expect(director.map((d) => [d.timeline, d.label])).toEqual([[timelineKey(m), "take 1"]]);
    expect((await rows(t, "productionSessions"))[0].counts.events).toBe(1);
  });
});

describe("timeline order", () => {
  test("per session, director events read in timeline order: receivedAt, then instance, then journal position", async () => {
    const t = setup();
    const e = events();
    const start = e.start("s1");
    // Three instances accept at the same millisecond; arrival order is the reverse.
    const same = start.receivedAt + 10_000;
    const m = (label: string, instance: string, seq: number) => e.marker("s1", label, { receivedAt: same, instance, seq });
    const later = e.note("s1", "later", { receivedAt: same + 1, instance: "a", seq: 1 });
    const batch = [later, m("b-9", "b", 9), m("b-10", "b", 10), m("a-7", "a", 7)];
    await apply(t, [start]);
    for (const ev of batch) await apply(t, [ev]);
    const got = await readSession(t, "s1");
    expect(got!.events.map((x) => x.label ?? x.text)).toEqual(["a-7", "b-9", "b-10", "later"]);
    expect(got!.events.map((x) => x.timeline)).toEqual([
      `00${same}.a.000000000007`,
      `00${same}.b.000000000009`,
      `00${same}.b.000000000010`,
      `00${same + 1}.a.000000000001`,
    ]);
  });

  test("pages: a session's events read completely, page by page, each page bounded", async () => {
    const t = setup();
    const e = events();
    await apply(t, [e.start("s1"), ...Array.from({ length: 300 }, (_, i) => e.marker("s1", `m${i}`))]);
    const first = await t.query(internal.ledger.sessionEvents, { sessionKey: "s1", paginationOpts: { numItems: 1000, cursor: null } });
    expect(first.page).toHaveLength(256); // READ_PAGE_MAX
    expect(first.isDone).toBe(false);
    const got = await readSession(t, "s1");
    expect(got!.events.map((x) => x.label)).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`));
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
    expect((await rows(t, "productionSessions"))[0].counts.events).toBe(499);
  });
});
