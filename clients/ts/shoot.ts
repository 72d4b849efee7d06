// A whole shoot through a client typed from the checked-in OpenAPI document
// (`openapi/openapi.json`): `schema.d.ts` is generated from it by
// openapi-typescript, and this file must type-check against it and then run
// against the real service. A spec that lies — a field, a status, a body
// shape it does not document — fails one or the other.
//
//   npx openapi-typescript openapi/openapi.json -o clients/ts/schema.d.ts
//   npx tsc -p clients/ts
//   node --import tsx clients/ts/shoot.ts http://127.0.0.1:8080
// (`tests/typed_client.rs` does all three.)
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Receipt = components["schemas"]["EventReceipt"];

const baseUrl = process.argv[2];
if (!baseUrl) throw new Error("usage: shoot.ts <base url>");
const api = createClient<paths>({ baseUrl });

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`typed client: ${what}`);
}

/** A write's answer: 202 with its receipt, a new event of `type`. */
function accepted(
  r: { data?: Receipt; error?: unknown; response: Response },
  type: Receipt["type"],
): Receipt {
  check(r.response.status === 202, `${type}: status ${r.response.status} ${JSON.stringify(r.error)}`);
  const receipt = r.data;
  check(receipt !== undefined, `${type}: no receipt`);
  check(receipt.type === type, `${type}: receipt of ${receipt.type}`);
  check(receipt.status === "pending" || receipt.status === "delivered", `${type}: status ${receipt.status}`);
  check(receipt.href === `/v1/events/${receipt.eventId}`, `${type}: href ${receipt.href}`);
  check(Number.isInteger(receipt.journalSeq) && receipt.replayed === false, `${type}: ${JSON.stringify(receipt)}`);
  return receipt;
}

const sessionKey = "typed-client-shoot";
const started = await api.POST("/v1/sessions", {
  body: { sessionKey, title: "Typed client", location: "Studio T" },
  params: { header: { "Idempotency-Key": "typed-start" } },
});
const start = accepted(started, "start_shoot");
check(started.response.headers.get("location") === start.href, "Location names the event");

// The same key again: an idempotent replay of the same event.
const again = await api.POST("/v1/sessions", {
  body: { sessionKey, title: "Typed client", location: "Studio T" },
  params: { header: { "Idempotency-Key": "typed-start" } },
});
check(again.response.status === 202 && again.data?.eventId === start.eventId, "replay answers the first receipt");
check(again.response.headers.get("idempotent-replayed") === "true", "replay says so");

accepted(
  await api.POST("/v1/devices", {
    body: { deviceId: "typed-ipad", name: "iPad T", platform: "ipados", hardwareId: "T-1" },
  }),
  "register_device",
);
accepted(
  await api.POST("/v1/sessions/{sessionKey}/cameras", {
    params: { path: { sessionKey } },
    body: { deviceId: "typed-ipad", cameraKey: "A", role: "hero", placement: { x: 0, y: -3, heightM: 1.5 } },
  }),
  "join_session",
);
accepted(
  await api.PUT("/v1/devices/{deviceId}/placement", {
    params: { path: { deviceId: "typed-ipad" } },
    body: { sessionKey, placement: { panDeg: 12.5, orientation: "landscape_left" }, clockOffsetMs: -3 },
  }),
  "update_placement",
);

const batch = await api.POST("/v1/sessions/{sessionKey}/director-events", {
  params: { path: { sessionKey } },
  body: {
    events: [
      { type: "cut", cameraKey: "A" },
      { type: "hold_start", holdId: "h1", cameraKey: "A" },
      { type: "cue", cueKind: "pose", label: "hands in pockets" },
      { type: "hold_end", holdId: "h1" },
      { type: "marker", label: "best take" },
      { type: "note", text: "lovely light" },
    ],
  },
});
check(batch.response.status === 202, `batch: ${batch.response.status}`);
const batchBody = batch.data;
check(batchBody !== undefined && "events" in batchBody, "a batch answers a BatchReceipt");
check(batchBody.accepted === 6 && batchBody.replayed === 0 && batchBody.events.length === 6, "six new events");
check(batchBody.events[0].type === "cut" && batchBody.events[5].type === "note", "receipts in request order");

accepted(
  await api.POST("/v1/sessions/{sessionKey}/stills", {
    params: { path: { sessionKey } },
    body: { stillId: "typed-still-1", cameraKey: "A", capturedAt: "2026-11-30T19:41:07Z", width: 8064, height: 6048 },
  }),
  "still_marker",
);
accepted(
  await api.POST("/v1/callbacks/still-upload", {
    body: { sessionKey, stillId: "typed-still-1", storageRef: "s3://shoots/typed-still-1.heic", byteSize: 1024 },
  }),
  "still_uploaded",
);
accepted(await api.POST("/v1/sessions/{sessionKey}/complete", { params: { path: { sessionKey } } }), "complete_session");

// A bad field: a problem document with the field's pointer.
const bad = await api.POST("/v1/sessions/{sessionKey}/cameras", {
  params: { path: { sessionKey } },
  body: { deviceId: "typed-ipad", cameraKey: "B", role: "wide", placement: { panDeg: 500 } },
});
check(bad.response.status === 422, `out of range: ${bad.response.status}`);
check(bad.response.headers.get("content-type") === "application/problem+json", "a problem document");
const problem = bad.error;
check(problem !== undefined && problem.errors?.[0]?.pointer === "/placement/panDeg", JSON.stringify(problem));
check(problem.errors?.[0]?.code === "out_of_range", "its code");

// Reads.
const event = await api.GET("/v1/events/{eventId}", { params: { path: { eventId: start.eventId } } });
check(event.response.status === 200 && event.data?.eventId === start.eventId, "the event reads back");
check(event.data.attempts === 0, "no failed round");
const journal = await api.GET("/v1/sessions/{sessionKey}/journal", {
  params: { path: { sessionKey }, query: { limit: 100 } },
});
check(journal.response.status === 200 && journal.data?.entries.length === 12, `journal: ${journal.data?.entries.length}`);
const report = await api.GET("/version");
check(report.response.status === 200 && report.data !== undefined, "the deployment report");
check(report.data.journal?.depth.pending === 13, `pending: ${report.data.journal?.depth.pending}`);
check(report.data.ledger.state === "none" && report.data.build.contractVersion >= 1, "the ledger and the build");
const ready = await api.GET("/readyz");
check(ready.response.status === 200 && ready.data?.status === "ready", "ready");

// The operator's side: the shoot, its cameras and the registry, as the
// embedded ledger answers them once it has applied the journal.
async function eventually<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const got = await f();
    if (got !== undefined) return got;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`typed client: ${what} never came`);
}
const listed = await eventually("the completed session in the list", async () => {
  const r = await api.GET("/v1/sessions", { params: { query: { status: "completed" } } });
  check(r.response.status === 200, `sessions: ${r.response.status}`);
  return r.data?.sessions.find((x) => x.sessionKey === sessionKey);
});
check(listed.summary?.cuts === 1 && listed.summary.holds === 1 && listed.heroCameraKey === "A", JSON.stringify(listed));
check(Number.isInteger(listed.startedAt) && listed.kind === "photoshoot_performance", "typed session row");
const whole = await api.GET("/v1/sessions/{sessionKey}", { params: { path: { sessionKey } } });
check(whole.response.status === 200 && whole.data?.ledger?.events.length === 7, `session: ${JSON.stringify(whole.data)}`);
check(whole.data.ledger.events[0].type === "cut" && whole.data.ledger.stills[0].uploadStatus === "uploaded", "rows");
const page1 = await api.GET("/v1/sessions/{sessionKey}/events", { params: { path: { sessionKey }, query: { limit: 4 } } });
check(page1.response.status === 200 && page1.data?.rows.length === 4 && !!page1.data.nextCursor, "first page");
const page2 = await api.GET("/v1/sessions/{sessionKey}/events", {
  params: { path: { sessionKey }, query: { limit: 4, cursor: page1.data.nextCursor } },
});
check(page2.data?.rows.length === 3 && page2.data.nextCursor === undefined, "second and last page");
const cameras = await api.GET("/v1/sessions/{sessionKey}/cameras", { params: { path: { sessionKey } } });
const camA = cameras.data?.cameras[0];
check(camA?.cameraKey === "A" && camA.placements.length === 2 && camA.placements[1].clockOffsetMs === -3, "history");
check(cameras.data?.refused[0]?.errors[0]?.pointer === "/placement/panDeg", "the refused placement");

const devices = await api.GET("/v1/devices", { params: { query: { platform: "ipados", clash: false } } });
check(devices.response.status === 200 && devices.data?.devices[0]?.deviceId === "typed-ipad", "the registry");
check(devices.data.devices[0].stale === false && devices.data.source === "embedded", "stale, and which ledger");
accepted(
  await api.POST("/v1/devices/{deviceId}/rename", {
    params: { path: { deviceId: "typed-ipad" } },
    body: { label: "T cam" },
  }),
  "rename_device",
);
const renamed = await eventually("the label", async () => {
  const r = await api.GET("/v1/devices/{deviceId}", { params: { path: { deviceId: "typed-ipad" } } });
  return r.data?.device?.label === "T cam" ? r.data : undefined;
});
check(renamed.registrations.length === 1 && renamed.cameras[0].cameraKey === "A", "the device's history");
const clashes = await api.GET("/v1/clashes");
check(clashes.response.status === 200 && clashes.data?.clashes.length === 0, "no clash");

console.log(`typed client: a whole shoot, ${report.data.journal?.depth.pending} events journaled`);
