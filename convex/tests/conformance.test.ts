// The conformance corpus against the Convex functions (tests/conformance/):
// every scenario's events, applied in timeline order (and, to be sure, in
// shuffled orders and batches), leave exactly the expected snapshot. The
// same files are run against the service's embedded ledger by
// `cargo test --test conformance`; a rule that one side keeps and the other
// does not fails one of the two.
//
// The corpus is written from the scenarios below and the model's random
// shoots: SHOOTLOG_WRITE_CORPUS=1 npx vitest run convex/tests/conformance.test.ts
import fs from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, test, vi } from "vitest";
import type { WireEvent } from "../wire";
import { NOW, events, internal, setup, type T } from "./harness.helpers";
import { deliveries, shoot } from "./model.helpers";
import { snapshot, type Snapshot } from "./snapshot.helpers";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  return () => vi.useRealTimers();
});

const DIR = path.resolve(__dirname, "../../tests/conformance");
const WRITE = process.env.SHOOTLOG_WRITE_CORPUS === "1";
const MODEL_SHOOTS = 20;

interface Scenario {
  description: string;
  /** Timeline order. */
  events: WireEvent[];
  /** After the events: settle every waiting event as if its grace period had passed. */
  settle: boolean;
  /**
   * Only in timeline order: the scenario has conflicting claims or writes
   * after a completion, which are judged as they arrive (migrations-notes/0003).
   */
  arrivalJudged?: boolean;
  expected?: Snapshot;
}

function scenarios(): Record<string, Scenario> {
  const out: Record<string, Scenario> = {};
  const add = (
    name: string,
    description: string,
    build: (e: ReturnType<typeof events>) => WireEvent[],
    settle = false,
    arrivalJudged = false,
  ) => {
    out[name] = { description, events: build(events()), settle, ...(arrivalJudged ? { arrivalJudged } : {}) };
  };
  const P1 = { x: 1.5, y: -2, heightM: 1.6, panDeg: -30, focalLengthMm: 24, orientation: "landscape_left" as const };
  add("whole-shoot", "a shoot from Start Shoot to completion, every kind of event applied", (e) => [
    e.register("d1", { name: "Ana's iPhone", model: "iPhone 16 Pro", appVersion: "2.3.0", hardwareId: "hw-1" }),
    e.register("d2", { name: "Studio iPad", platform: "ipados" }),
    e.start("s1", "Spring lookbook", { notes: "rooftop", location: "Berlin" }),
    e.join("s1", "A", "d1", { role: "hero", placement: P1, clockOffsetMs: 12 }),
    e.join("s1", "B", "d2"),
    e.cut("s1", "A"),
    e.cue("s1", "look left", { cueKind: "look" }),
    e.holdStart("s1", "h1", "A"),
    e.cut("s1", "B", { fromCameraKey: "A", transition: "dissolve", transitionMs: 400 }),
    e.holdEnd("s1", "h1"),
    e.still("s1", "st1", "A", { width: 6000, height: 4000, contentType: "image/heic" }),
    e.marker("s1", "take 2"),
    e.note("s1", "sun behind clouds"),
    e.place("s1", "d2", { distanceM: 3.2, zoom: 2, notes: "on the stairs" }, { clockOffsetMs: -40 }),
    e.uploaded("s1", "st1", "s3://stills/st1.heic", { byteSize: 4_200_000, sha256: "ab".repeat(32), url: "https://cdn.example/st1.heic" }),
    e.holdStart("s1", "h2", "B"),
    e.complete("s1"),
  ]);
  add("waiting-for-prerequisites", "a cut before its camera's join, an upload before its marker, a placement before its join, a join before its device: each waits and is applied when what it waits for comes", (e) => [
    e.start("s1"),
    e.cut("s1", "A"),
    e.uploaded("s1", "st1", "s3://st1"),
    e.place("s1", "d1", { x: 2 }),
    e.join("s1", "A", "d1", { placement: { x: 1 } }),
    e.register("d1"),
    e.holdStart("s1", "h1", "A"),
    e.still("s1", "st1", "A"),
    e.cut("s1", "B"),
    e.register("d2"),
    e.join("s1", "B", "d2"),
  ]);
  add("events-before-their-session", "every kind of session event before the session's start", (e) => [
    e.register("d1"),
    e.join("s1", "A", "d1"),
    e.cut("s1", "A"),
    e.holdStart("s1", "h", "A"),
    e.holdEnd("s1", "h"),
    e.cue("s1"),
    e.still("s1", "st", "A"),
    e.uploaded("s1", "st", "s3://st"),
    e.start("s1", "Late start"),
  ]);
  add("holds", "holds paired by timeline: an end with nothing open, a second start while open, a camera that never joined, re-opening after close; then the completion closes what is open and the grace period settles what waits", (e) => [
    e.register("d1"), e.register("d2"), e.start("s1"), e.join("s1", "A", "d1"), e.join("s1", "B", "d2"),
    e.holdEnd("s1", "h1"),
    e.holdStart("s1", "h1", "A"),
    e.holdStart("s1", "h1", "B"),
    e.holdStart("s1", "h2", "Z"),
    e.holdEnd("s1", "h1"),
    e.holdEnd("s1", "h1"),
    e.holdStart("s1", "h1", "B"),
    e.holdStart("s1", "h3", "A"),
    e.complete("s1"),
  ], true);
  add("completed-session", "every write after the completion is session_completed at once", (e) => [
    e.register("d1"), e.register("d3"), e.start("s1"), e.join("s1", "A", "d1"), e.cut("s1", "A"), e.complete("s1"),
    e.start("s1", "again"), e.complete("s1"), e.join("s1", "C", "d3"), e.place("s1", "d1", { x: 2 }),
    e.cut("s1", "A"), e.holdStart("s1", "h2", "A"), e.cue("s1"), e.marker("s1"), e.note("s1"),
    e.still("s1", "st2", "A"), e.uploaded("s1", "st1", "s3://late"),
  ], false, true);
  add("device-moves-between-sessions", "a device joins a second session while its first is live: it waits, and joins when the first completes", (e) => [
    e.register("d1"), e.register("d2"), e.start("s1"), e.join("s1", "A", "d1"), e.join("s1", "B", "d2"),
    e.start("s2"), e.join("s2", "A", "d1"), e.cut("s2", "A"), e.complete("s1"), e.join("s2", "B", "d2"),
  ]);
  add("conflicting-claims", "claims judged at once: a camera key held by another device, a device already in the session, a hardware id of another device, a still id twice", (e) => [
    e.register("d1", { hardwareId: "hw-1" }), e.register("d2"), e.register("d3"), e.start("s1"),
    e.join("s1", "A", "d1"), e.join("s1", "A", "d2"), e.join("s1", "C", "d1"),
    e.register("d3", { hardwareId: "hw-1" }), e.register("d1", { hardwareId: "hw-1", name: "renamed" }),
    e.still("s1", "st1", "A"), e.still("s1", "st1", "A"), e.uploaded("s1", "st1", "s3://st1", { byteSize: 10 }),
  ], false, true);
  add("placements", "every placement a version; a placement that waited for its join is ranked by its timeline; values out of range are refused at once", (e) => [
    e.register("d1"), e.register("d2"), e.start("s1"),
    e.place("s1", "d1", { x: -3 }),
    e.join("s1", "A", "d1", { role: "hero", placement: { x: 1, panDeg: 10 } }),
    e.place("s1", "d1", { tiltDeg: -12.5, zoom: 1.5, orientation: "portrait" }, { clockOffsetMs: 25 }),
    e.join("s1", "A", "d1", { role: "close", placement: { distanceM: 4, notes: "low angle" } }),
    e.place("s1", "d1", { tiltDeg: 91 }),
    e.place("s1", "d1", { focalLengthMm: 0.5 }),
    e.place("s1", "d1", {}),
    e.join("s1", "B", "d2", { placement: { heightM: 101 } }),
    e.join("s1", "B", "d2", { placement: { heightM: 100, x: -1000, zoom: 0.1 } }),
  ]);
  add("registry", "registrations update in place, later fields win, omitted ones stay; seen times from the service clock", (e) => [
    e.register("d1", { name: "Old", model: "iPhone 14", appVersion: "1.0", hardwareId: "hw-1" }),
    e.register("d1", { name: "New", platform: "ipados", appVersion: "2.0" }),
    e.register("d2", { name: "Pixel", platform: "android" }),
    e.start("s1"), e.join("s1", "A", "d2"), e.place("s1", "d2", { x: 1 }),
  ]);
  add("invalid-events", "invalid events are refused at once and write nothing but their receipt", (e) => [
    e.register("d1"), e.start("s1"), e.join("s1", "A", "d1"),
    e.marker(""), e.marker("s1", "x", { at: -5 }), e.join("s1", "", "d1"), e.register("", {}),
    e.register("d9", { hardwareId: "" }),
    e.holdStart("s1", "", "A"), e.cut("s1", "A", { fromCameraKey: "" }), e.cut("s1", "A", { transitionMs: -1 }),
    e.still("s1", "st", "A", { width: -1 }), e.marker("s1", "bad instance", { instance: "no spaces" }),
  ]);
  add("grace-expiry", "what still waits when the session completes is rejected with its code once the grace period has passed; what comes after the completion is session_completed", (e) => [
    e.register("d1"), e.start("s1"), e.join("s1", "A", "d1"),
    e.cut("s1", "Q"), e.uploaded("s1", "nope", "s3://x"), e.place("s1", "d9", { x: 1 }), e.join("s1", "Z", "ghost"),
    e.holdEnd("s1", "h"), e.complete("s1"), e.cut("s1", "R"),
  ], true);
  add("hero-feed", "the hero feed is the camera of the latest cut in timeline order, including cuts that waited", (e) => [
    e.register("d1"), e.register("d2"), e.start("s1"), e.join("s1", "B", "d2"),
    e.cut("s1", "A"), e.cut("s1", "B", { fromCameraKey: "A" }), e.join("s1", "A", "d1"),
    e.cut("s1", "A", { transition: "fade", transitionMs: 250 }), e.cut("s1", "C"),
  ]);
  // Registry repair (migrations-notes/0005). A repair of a device is judged
  // on the registry as it stands when it applies (a retire before the
  // registration is device_not_found; the holder of a clash is the first
  // registration that came): those scenarios are arrivalJudged.
  add("registry-repair", "retire, reinstate and rename: latest-wins in the timeline; a registration changes neither label nor retirement; an unknown device is device_not_found at once", (e) => [
    e.register("d1", { hardwareId: "hw-1" }), e.register("d2", { platform: "android" }),
    e.rename("d1", "Cam A phone"), e.rename("d1", "Cam A spare"),
    e.retire("d1", { reason: "screen cracked" }), e.reinstate("d1"),
    e.retire("d2"), e.reinstate("d2"), e.retire("d2", { reason: "lost at the venue" }),
    e.register("d1", { name: "Renamed by its app", appVersion: "3.1" }),
    e.retire("d9"), e.reinstate("d9"), e.rename("d9", "ghost"),
    e.rename("d1", ""), e.retire("d1", { reason: "x".repeat(501) }),
  ], false, true);
  add("retired-device-joins", "a join after the device's retirement is device_retired; a join before it stays applied; once reinstated, it joins", (e) => [
    e.register("d1"), e.register("d2"), e.start("s1"),
    e.join("s1", "A", "d1"), e.retire("d1"), e.place("s1", "d1", { x: 1 }, { clockOffsetMs: 9 }),
    e.retire("d2", { reason: "battery swelling" }), e.join("s1", "B", "d2"),
    e.reinstate("d2"), e.join("s1", "C", "d2", { clockOffsetMs: -2, placement: { panDeg: 45 } }),
  ], false, true);
  add("clash-resolved-for-holder", "registrations refused hardware_id_conflict write clash reports; resolved for the holder, every open report closes, the holder keeps the id, retireOthers retires the registered claimant; a new claim opens a new report", (e) => [
    e.register("d1", { hardwareId: "hw-1" }), e.register("d2"),
    e.register("d2", { hardwareId: "hw-1", name: "Second phone", platform: "android" }),
    e.register("d5", { hardwareId: "hw-1" }),
    e.resolve("hw-1", "d1", true),
    e.register("d2", { hardwareId: "hw-1" }),
  ], false, true);
  add("clash-resolved-for-claimant", "resolved for the claimant: the holder loses the hardware id and is retired; the claimant registers again and succeeds, and the old holder's next claim is a new clash; a resolution with nothing open is clash_not_found, an owner that is no party device_not_in_clash", (e) => [
    e.register("d1", { hardwareId: "hw-1" }),
    e.register("d2", { hardwareId: "hw-1" }),
    e.resolve("hw-1", "d2", true),
    e.resolve("hw-1", "d2"),
    e.register("d2", { hardwareId: "hw-1" }),
    e.register("d1", { hardwareId: "hw-1", name: "still claims it" }),
    e.resolve("hw-1", "d9"),
    e.resolve("hw-2", "d1"),
    e.resolve("hw-1", "d2"),
  ], false, true);
  add("clash-of-a-new-owner", "resolved for a registered claimant: its row gets the hardware id at once, the holder's loses it", (e) => [
    e.register("d1", { hardwareId: "hw-1" }), e.register("d2"), e.register("d2", { hardwareId: "hw-1" }),
    e.resolve("hw-1", "d2"), e.register("d1", { hardwareId: "hw-1" }),
  ], false, true);
  add("camera-replaced", "a device takes over a camera: it keeps key, role, placements and clock offset; the new device's placements apply to it (also one that came first); the old device joins another session (no completion: a replacement delivered after its session's completion is session_completed, whatever its timeline)", (e) => [
    e.register("d1"), e.register("d2"), e.register("d3"), e.start("s1"),
    e.join("s1", "A", "d1", { role: "hero", placement: { x: 1 }, clockOffsetMs: 7 }),
    e.join("s1", "B", "d2"), e.cut("s1", "A"),
    e.replace("s1", "A", "d3", { reason: "battery died" }),
    e.place("s1", "d3", { x: 2, panDeg: 15 }, { clockOffsetMs: -5 }),
    e.cut("s1", "B"), e.cut("s1", "A"),
    e.start("s2"), e.join("s2", "A", "d1"),
  ]);
  add("camera-replacement-waits", "a replacement waits for its camera, then for its new device, then for the new device to be free of another live session", (e) => [
    e.register("d1"), e.register("d2"), e.register("d3"), e.start("s1"), e.start("s2"),
    e.join("s1", "A", "d1"), e.join("s2", "X", "d2"),
    e.replace("s1", "A", "d2"),
    e.replace("s1", "B", "d4"),
    e.join("s1", "B", "d3"),
    e.register("d4"),
    e.replace("s9", "A", "d1"),
    e.complete("s2"),
  ]);
  add("camera-replacement-refused", "a replacement by a retired device (device_retired), by a device already in the session, the replaced one included (device_already_in_session), to a completed session (session_completed); what still waits is settled", (e) => [
    e.register("d1"), e.register("d2"), e.register("d3"), e.register("d4"), e.start("s1"),
    e.join("s1", "A", "d1"), e.join("s1", "B", "d2"),
    e.retire("d3"), e.replace("s1", "A", "d3"),
    e.replace("s1", "A", "d2"), e.replace("s1", "A", "d1"),
    e.replace("s1", "C", "d4"),
    e.complete("s1"), e.replace("s1", "B", "d4"),
  ], true, true);
  for (let seed = 1; seed <= MODEL_SHOOTS; seed++) {
    out[`model-${String(seed).padStart(3, "0")}`] = {
      description: `the order model's random shoot ${seed} (convex/tests/model.helpers.ts), settled`,
      events: shoot(seed),
      settle: true,
    };
  }
  return out;
}

async function run(t: T, batches: WireEvent[][], settle: boolean, all: WireEvent[]) {
  for (const events of batches) await t.mutation(internal.ingest.applyBatch, { events });
  const ids = [...new Set(all.map((e) => e.eventId))].filter((id) => id.length > 0);
  if (settle) {
    for (let i = 0; i < ids.length; i += 500) {
      await t.mutation(internal.ingest.settle, { eventIds: ids.slice(i, i + 500), graceMs: 0 });
    }
  }
  return snapshot(t, ids);
}

function file(name: string) {
  return path.join(DIR, `${name}.json`);
}

describe("conformance corpus (Convex)", () => {
  const all = scenarios();

  test("the corpus holds exactly the scenarios, with their events", () => {
    if (WRITE) return;
    const onDisk = fs.readdirSync(DIR).filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, "")).sort();
    expect(onDisk).toEqual(Object.keys(all).sort());
    for (const [name, s] of Object.entries(all)) {
      const stored = JSON.parse(fs.readFileSync(file(name), "utf8")) as Scenario;
      expect(JSON.parse(JSON.stringify(stored.events)), name).toEqual(JSON.parse(JSON.stringify(s.events)));
      expect(stored.settle, name).toBe(s.settle);
      expect(stored.arrivalJudged ?? false, name).toBe(s.arrivalJudged ?? false);
    }
  });

  for (const name of Object.keys(all)) {
    test(`${name}: in timeline order, and in three other orders`, async () => {
      const s = all[name];
      const expected = await run(setup(), [s.events], s.settle, s.events);
      if (WRITE) {
        const body = { description: s.description, settle: s.settle, ...(s.arrivalJudged ? { arrivalJudged: true } : {}), events: s.events, expected };
        fs.writeFileSync(file(name), JSON.stringify(body, null, 1) + "\n");
      } else {
        const stored = JSON.parse(fs.readFileSync(file(name), "utf8")) as Scenario;
        expect(JSON.parse(JSON.stringify(expected))).toEqual(stored.expected);
      }
      for (const seed of s.arrivalJudged ? [] : [1, 2, 3]) {
        const got = await run(setup(), deliveries(seed * 7919 + name.length, s.events), s.settle, s.events);
        expect(got, `${name}, delivery ${seed}`).toEqual(expected);
      }
    });
  }
});
