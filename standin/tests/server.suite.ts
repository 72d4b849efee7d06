// The stand-in as its clients see it: the real server (`node --import tsx
// standin/server.ts --port 0`), spoken to over HTTP, over raw WebSocket
// frames, and through the official `convex` npm client.
//
// A vitest suite, run by `npm run test:convex` through
// convex/tests/standin.test.ts (which only imports it, in vitest's node
// environment); alone: `npx vitest run --config vitest.config.ts convex/tests/standin.test.ts`.
//
// Every expected message, status and close code here is the real backend's;
// standin/deployment.ts names the backend file each one comes from.
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { afterAll as after, beforeAll as before, describe, test } from "vitest";
import WebSocket from "ws";

import {
  DISABLED_ERROR_MESSAGE_FREE_PLAN,
  PAUSED_ERROR_MESSAGE,
} from "../deployment";
import { realLimitMessage } from "../engine";
import { CONTRACT_VERSION } from "../../convex/contract";
import { FUNCTIONS_BUILD_ID } from "../../convex/buildId";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KEY = "standin-test-admin-key";
const NOT_FOUND = (p: string) =>
  `Could not find public function for '${p}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`;
const FORBIDDEN_MUTATION =
  "You do not have permission to perform this operation (deployment:functions:runInternalMutations).";
const FORBIDDEN_QUERY =
  "You do not have permission to perform this operation (deployment:functions:runInternalQueries).";

// ------------------------------------------------------------------ harness

interface Standin {
  url: string;
  proc: ChildProcess;
  stderr: () => string;
}

function startStandin(args: string[] = [], env: Record<string, string> = {}): Promise<Standin> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", path.join(root, "standin/server.ts"), "--port", "0", "--admin-key", KEY, ...args],
      { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    proc.stderr!.on("data", (d) => (err += d));
    proc.stdout!.on("data", (d) => {
      out += d;
      const m = /CONVEX_STANDIN_URL=(\S+)\n/.exec(out);
      if (m) resolve({ url: m[1], proc, stderr: () => err });
    });
    proc.on("exit", (code) => reject(new Error(`stand-in exited (${code}) before it was ready:\n${err}`)));
  });
}

function stop(s: Standin | undefined) {
  if (s && s.proc.exitCode === null) s.proc.kill("SIGTERM");
}

async function http(
  s: Standin,
  method: string,
  route: string,
  body?: unknown,
  key: string | null = KEY,
): Promise<{ status: number; body: any }> {
  const res = await fetch(s.url + route, {
    method,
    headers: { "content-type": "application/json", ...(key !== null ? { authorization: `Convex ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text) };
}

const call = (s: Standin, kind: "query" | "mutation", p: string, args: unknown, key: string | null = KEY) =>
  http(s, "POST", `/api/${kind}`, { path: p, args, format: "json" }, key);

async function setState(s: Standin, state: string) {
  const r = await http(s, "POST", "/_standin/deployment", { state }, null);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { state });
}

const stats = async (s: Standin) => (await http(s, "GET", "/_standin/stats", undefined, null)).body;

let eventNo = 0;
function registerEvent(deviceId = `dev-${randomUUID()}`) {
  eventNo += 1;
  const at = 1_767_225_600_000 + eventNo * 1000;
  return {
    eventId: randomUUID(),
    type: "register_device",
    at,
    receivedAt: at + 5,
    instance: "standin-test",
    seq: eventNo,
    deviceId,
    name: `Phone ${eventNo}`,
    platform: "ios",
  };
}

const b64ts = (ns: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(ns);
  return b.toString("base64");
};
const tsOf = (b64: string) => Buffer.from(b64, "base64").readBigUInt64LE();

/** A raw sync-protocol socket: what it received, and how it was closed. */
class Sync {
  ws: WebSocket;
  inbox: any[] = [];
  private waiters: (() => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;
  private requestId = 0;
  private querySet = 0;

  constructor(s: Standin, route = "/api/sync") {
    this.ws = new WebSocket(s.url.replace(/^http/, "ws") + route);
    this.ws.on("message", (d) => {
      this.inbox.push(JSON.parse(d.toString()));
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      this.ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      }),
    );
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  opened() {
    return new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
  }

  send(msg: unknown) {
    this.ws.send(JSON.stringify(msg));
  }

  /** The next message (of `type`, skipping others), or a failure after `ms`. */
  async next(type?: string, ms = 5000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex((m) => type === undefined || m.type === type);
      if (i !== -1) return this.inbox.splice(i, 1)[0];
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`socket closed while waiting for ${type}; got ${JSON.stringify(this.inbox)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} within ${ms} ms; got ${JSON.stringify(this.inbox)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Connect + admin Authenticate, as the Rust client does; waits for the identity Transition. */
  async connectAdmin(maxObservedTimestamp?: string) {
    await this.opened();
    this.send({
      type: "Connect",
      sessionId: randomUUID(),
      connectionCount: 0,
      lastCloseReason: "InitialConnect",
      clientTs: Date.now(),
      ...(maxObservedTimestamp ? { maxObservedTimestamp } : {}),
    });
    this.send({ type: "Authenticate", baseVersion: 0, tokenType: "Admin", value: KEY });
    return this.next("Transition");
  }

  mutation(udfPath: string, args: unknown) {
    const requestId = this.requestId++;
    this.send({ type: "Mutation", requestId, udfPath, args: [args] });
    return requestId;
  }

  subscribe(udfPath: string, args: unknown) {
    const queryId = this.querySet;
    this.send({
      type: "ModifyQuerySet",
      baseVersion: this.querySet,
      newVersion: ++this.querySet,
      modifications: [{ type: "Add", queryId, udfPath, args: [args] }],
    });
    return queryId;
  }

  close() {
    this.ws.close();
  }
}

// --------------------------------------------------------------------- tests

let A: Standin; // default options
let B: Standin; // started paused, UDF_404_ON_BAD_PATH on, function errors as HTTP 560, with the fixture module

before(async () => {
  [A, B] = await Promise.all([
    startStandin(),
    startStandin(["--modules", "standin/tests/fixtures/modules.ts"], {
      STANDIN_DEPLOYMENT_STATE: "paused",
      STANDIN_UDF_404_ON_BAD_PATH: "1",
      STANDIN_HTTP_FUNCTION_ERROR_STATUS: "560",
    }),
  ]);
}, 60_000); // two starts (tsx, module loading) while other test files run

after(() => {
  stop(A);
  stop(B);
});

describe("the official JS client (convex/browser ConvexClient)", () => {
  test("runs an internal mutation and query as admin over /api/<version>/sync", async () => {
    const client = new ConvexClient(A.url, { webSocketConstructor: WebSocket as any, logger: false });
    try {
      // `setAdminAuth` exists on ConvexClient (convex 1.48,
      // dist/esm/browser/simple_client.js) but is `@internal`: not in its types.
      (client as unknown as { setAdminAuth(key: string): void }).setAdminAuth(KEY);
      const ev = registerEvent();
      const res: any = await client.mutation(makeFunctionReference<"mutation">("ingest:applyBatch") as any, {
        events: [ev],
      });
      assert.equal(res.verdicts.length, 1);
      assert.equal(res.verdicts[0].eventId, ev.eventId);
      const receipt: any = await client.query(makeFunctionReference<"query">("ledger:receipt") as any, {
        eventId: ev.eventId,
      });
      assert.equal(receipt.eventId, ev.eventId);
      const hs: any = await client.query(makeFunctionReference<"query">("contract:handshake") as any, {});
      assert.deepEqual(hs, { contractVersion: CONTRACT_VERSION, functionsBuildId: FUNCTIONS_BUILD_ID });
    } finally {
      await client.close();
    }
  });

  test("without admin auth, an internal read is a missing function", async () => {
    const client = new ConvexClient(A.url, { webSocketConstructor: WebSocket as any, logger: false });
    try {
      await assert.rejects(
        client.query(makeFunctionReference<"query">("ledger:receipt") as any, { eventId: "x" }),
        (err: Error) => err.message.includes(NOT_FOUND("ledger:receipt")),
      );
    } finally {
      await client.close();
    }
  });

  test("the sync route takes any version segment, and only one", async () => {
    for (const route of ["/api/sync", "/api/1.48.0/sync", "/api/9.9.9-alpha/sync"]) {
      const s = new Sync(A, route);
      await s.connectAdmin();
      s.close();
    }
    const bad = new Sync(A, "/api/a/b/sync");
    await assert.rejects(bad.opened(), /404/);
  });
});

describe("ledger reads are internal", () => {
  test("over HTTP: anonymous callers get the missing-function error, admins the value", async () => {
    for (const [p, args] of [
      ["ledger:sessionHeader", { sessionKey: "nope" }],
      ["ledger:devices", { staleAfterMs: 1000 }],
      ["ledger:receipt", { eventId: "nope" }],
      ["contract:handshake", {}],
    ] as const) {
      const anon = await call(A, "query", p, args, null);
      assert.equal(anon.status, 200, p); // a function error: HTTP 200, as the backend answers it
      assert.equal(anon.body.status, "error");
      assert.equal(anon.body.errorMessage, NOT_FOUND(p));
      const admin = await call(A, "query", p, args);
      assert.equal(admin.status, 200, `${p}: ${JSON.stringify(admin.body)}`);
    }
  });

  test("a wrong admin key is 401 BadAdminKey", async () => {
    const r = await call(A, "query", "contract:handshake", {}, "not-the-key");
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { code: "BadAdminKey", message: "The provided admin key was invalid for this instance" });
  });
});

describe("Connect with a maxObservedTimestamp from the future", () => {
  test("is refused: no message, the socket is closed 1011 InternalServerError", async () => {
    const probe = new Sync(A);
    const t = await probe.connectAdmin();
    const serverTs = tsOf(t.endVersion.ts);
    probe.close();

    const s = new Sync(A);
    await s.opened();
    s.send({
      type: "Connect",
      sessionId: randomUUID(),
      connectionCount: 1,
      lastCloseReason: "test",
      maxObservedTimestamp: b64ts(serverTs + 3_600_000_000_000n),
      clientTs: Date.now(),
    });
    s.send({ type: "Authenticate", baseVersion: 0, tokenType: "Admin", value: KEY });
    assert.deepEqual(await s.closed, { code: 1011, reason: "InternalServerError" });
    assert.deepEqual(s.inbox, []);

    // One at or behind the server's clock is served, and the clock did not move.
    const ok = new Sync(A);
    const t2 = await ok.connectAdmin(b64ts(serverTs));
    assert.ok(tsOf(t2.endVersion.ts) < serverTs + 3_600_000_000_000n);
    ok.close();
  });
});

describe("deployment states", () => {
  // One stand-in (A) switched through every state; the data written while
  // running must still be there at the end.
  const kept = registerEvent();

  before(async () => {
    await setState(A, "running");
    const r = await call(A, "mutation", "ingest:applyBatch", { events: [kept] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  after(async () => {
    await setState(A, "running");
  });

  for (const [state, message] of [
    ["paused", PAUSED_ERROR_MESSAGE],
    ["over_limits", DISABLED_ERROR_MESSAGE_FREE_PLAN],
  ] as const) {
    test(`${state}: every call is a function error with the backend's message`, async () => {
      assert.match(PAUSED_ERROR_MESSAGE, /^Cannot run functions while this deployment is paused\./);
      assert.match(DISABLED_ERROR_MESSAGE_FREE_PLAN, /^You have exceeded the free plan limits/);
      await setState(A, state);
      const before = await stats(A);

      // HTTP: mutation and query, admin or not, deployed or not.
      for (const [kind, p, args, key] of [
        ["mutation", "ingest:applyBatch", { events: [registerEvent()] }, KEY],
        ["query", "contract:handshake", {}, KEY],
        ["query", "ledger:receipt", { eventId: kept.eventId }, null],
        ["query", "nope:nothing", {}, KEY],
      ] as const) {
        const r = await call(A, kind, p, args, key);
        assert.equal(r.status, 200, `${kind} ${p}`);
        assert.equal(r.body.status, "error");
        assert.equal(r.body.errorMessage, message);
      }

      // Sync: MutationResponse {success: false} (then a Transition), QueryFailed.
      const s = new Sync(A);
      await s.connectAdmin();
      const requestId = s.mutation("ingest:applyBatch", { events: [registerEvent()] });
      const mr = await s.next("MutationResponse");
      assert.deepEqual(
        { requestId: mr.requestId, success: mr.success, result: mr.result },
        { requestId, success: false, result: message },
      );
      await s.next("Transition");
      s.subscribe("contract:handshake", {});
      const tq = await s.next("Transition");
      assert.equal(tq.modifications[0].type, "QueryFailed");
      assert.equal(tq.modifications[0].errorMessage, message);
      assert.equal(s.ws.readyState, WebSocket.OPEN, "the socket stays up");
      s.close();

      // Nothing ran.
      assert.deepEqual(await stats(A), before);
    });
  }

  test("functions_missing: every path is missing, for admins too", async () => {
    await setState(A, "functions_missing");
    for (const [kind, p, args] of [
      ["mutation", "ingest:applyBatch", { events: [registerEvent()] }],
      ["query", "contract:handshake", {}],
      ["query", "ledger:sessionHeader", { sessionKey: "s" }],
    ] as const) {
      const r = await call(A, kind, p, args);
      assert.equal(r.status, 200, `${kind} ${p}`);
      assert.equal(r.body.status, "error");
      assert.equal(r.body.errorMessage, NOT_FOUND(p));
    }
    const s = new Sync(A);
    await s.connectAdmin();
    s.mutation("ingest.js:applyBatch", { events: [registerEvent()] });
    const mr = await s.next("MutationResponse");
    assert.equal(mr.success, false);
    assert.equal(mr.result, NOT_FOUND("ingest:applyBatch"), "the path is shown without .js");
    await s.next("Transition");
    s.subscribe("contract:handshake", {});
    const tq = await s.next("Transition");
    assert.equal(tq.modifications[0].type, "QueryFailed");
    assert.equal(tq.modifications[0].errorMessage, NOT_FOUND("contract:handshake"));
    s.close();
  });

  test("forbidden_internal: HTTP 403 OperationNotPermitted", async () => {
    await setState(A, "forbidden_internal");
    const m = await call(A, "mutation", "ingest:applyBatch", { events: [registerEvent()] });
    assert.equal(m.status, 403);
    assert.deepEqual(m.body, { code: "OperationNotPermitted", message: FORBIDDEN_MUTATION });
    const q = await call(A, "query", "ledger:receipt", { eventId: kept.eventId });
    assert.equal(q.status, 403);
    assert.deepEqual(q.body, { code: "OperationNotPermitted", message: FORBIDDEN_QUERY });
  });

  test("forbidden_internal: on the socket, FatalError and close 1000 OperationNotPermitted", async () => {
    await setState(A, "forbidden_internal");
    const s = new Sync(A);
    await s.connectAdmin();
    s.mutation("ingest:applyBatch", { events: [registerEvent()] });
    assert.deepEqual(await s.next("FatalError"), { type: "FatalError", error: FORBIDDEN_MUTATION });
    assert.deepEqual(await s.closed, { code: 1000, reason: "OperationNotPermitted" });
    assert.equal(s.inbox.filter((m) => m.type === "MutationResponse").length, 0);

    const q = new Sync(A);
    await q.connectAdmin();
    q.subscribe("ledger:receipt", { eventId: kept.eventId });
    assert.deepEqual(await q.next("FatalError"), { type: "FatalError", error: FORBIDDEN_QUERY });
    assert.deepEqual(await q.closed, { code: 1000, reason: "OperationNotPermitted" });
  });

  test("incompatible: the handshake answers another contract version; everything else runs", async () => {
    await setState(A, "incompatible");
    const hs = await call(A, "query", "contract:handshake", {});
    assert.deepEqual(hs.body.value, { contractVersion: CONTRACT_VERSION + 1000, functionsBuildId: FUNCTIONS_BUILD_ID });
    const ev = registerEvent();
    const m = await call(A, "mutation", "ingest:applyBatch", { events: [ev] });
    assert.equal(m.status, 200);
    assert.equal(m.body.value.verdicts[0].eventId, ev.eventId);
  });

  test("running again: normal answers, the data intact", async () => {
    await setState(A, "running");
    assert.deepEqual((await http(A, "GET", "/_standin/deployment", undefined, null)).body, { state: "running" });
    const hs = await call(A, "query", "contract:handshake", {});
    assert.deepEqual(hs.body.value, { contractVersion: CONTRACT_VERSION, functionsBuildId: FUNCTIONS_BUILD_ID });
    const r = await call(A, "query", "ledger:receipt", { eventId: kept.eventId });
    assert.equal(r.body.value.eventId, kept.eventId);
    // A replay is a duplicate of the first verdict: the receipt survived.
    const again = await call(A, "mutation", "ingest:applyBatch", { events: [kept] });
    assert.equal(again.body.value.verdicts[0].verdict, "duplicate");
    assert.equal(again.body.value.verdicts[0].original, "applied");
  });

  test("an unknown state is refused with 400", async () => {
    const r = await http(A, "POST", "/_standin/deployment", { state: "sleepy" }, null);
    assert.equal(r.status, 400);
    assert.equal(r.body.code, "BadDeploymentState");
    assert.deepEqual((await http(A, "GET", "/_standin/deployment", undefined, null)).body, { state: "running" });
  });
});

describe("STANDIN_DEPLOYMENT_STATE and UDF_404_ON_BAD_PATH (second stand-in)", () => {
  test("it started paused (env)", async () => {
    assert.deepEqual((await http(B, "GET", "/_standin/deployment", undefined, null)).body, { state: "paused" });
    const r = await call(B, "query", "contract:handshake", {});
    assert.equal(r.status, 560);
    assert.equal(r.body.errorMessage, PAUSED_ERROR_MESSAGE);
  });

  test("functions_missing with the knob on: HTTP 404 FunctionPathNotFound", async () => {
    await setState(B, "functions_missing");
    const r = await call(B, "mutation", "ingest:applyBatch", { events: [registerEvent()] });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, {
      code: "FunctionPathNotFound",
      message: "Could not find public function for 'ingest:applyBatch'.",
    });
  });

  test("functions_missing with the knob on: the socket is closed 1000 FunctionPathNotFound, no message", async () => {
    await setState(B, "functions_missing");
    const s = new Sync(B);
    await s.connectAdmin();
    s.mutation("ingest:applyBatch", { events: [registerEvent()] });
    assert.deepEqual(await s.closed, { code: 1000, reason: "FunctionPathNotFound" });
    assert.deepEqual(s.inbox, []);
  });

  test("with the knob on, a non-admin naming an internal function gets the same 404", async () => {
    await setState(B, "running");
    const r = await call(B, "query", "ledger:receipt", { eventId: "x" }, null);
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, {
      code: "FunctionPathNotFound",
      message: "Could not find public function for 'ledger:receipt'.",
    });
  });

  test("an unknown STANDIN_DEPLOYMENT_STATE stops the start", { timeout: 30_000 }, async () => {
    await assert.rejects(startStandin([], { STANDIN_DEPLOYMENT_STATE: "sleepy" }), /exited \(2\)/);
  });
});

describe("transaction limits", () => {
  test("too many index ranges fail the function as in production", { timeout: 30_000 }, async () => {
    await setState(B, "running");
    const ok = await call(B, "query", "standinFixture:indexRanges", { n: 4096 });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const over = await call(B, "query", "standinFixture:indexRanges", { n: 4097 });
    assert.equal(over.status, 560, "B answers function errors with 560 (STANDIN_HTTP_FUNCTION_ERROR_STATUS)");
    assert.equal(over.body.status, "error");
    assert.equal(
      over.body.errorMessage,
      "Uncaught Error: Too many reads in a single function execution (limit: 4096). Consider using smaller " +
        "limits in your queries, paginating your queries, or using indexed queries with a selective index " +
        "range expressions.",
    );
  });

  test("convex-test's limit messages are reworded as the backend words them", () => {
    const ct = "This is a Convex limit: https://docs.convex.dev/production/state/limits";
    const help =
      "Consider using smaller limits in your queries, paginating your queries, or using indexed queries with a " +
      "selective index range expressions.";
    const cases: [string, string][] = [
      [
        `Read too much data in a single function execution (limit: 16777216 bytes). ${ct}`,
        `Too many bytes read in a single function execution (limit: 16777216 bytes). ${help}`,
      ],
      [
        `Scanned too many documents in a single function execution (limit: 32000). ${ct}`,
        `Too many documents read in a single function execution (limit: 32000). ${help}`,
      ],
      [
        `Wrote too many documents in a single function execution (limit: 16000). ${ct}`,
        "Too many writes in a single function execution (limit: 16000)",
      ],
      [
        `Wrote too much data in a single function execution (limit: 16777216 bytes). ${ct}`,
        "Too many bytes written in a single function execution (limit: 16 MiB)",
      ],
      ["boom", "boom"],
    ];
    for (const [from, to] of cases) assert.equal(realLimitMessage(from), to);
  });
});

describe("execution counts (GET /_standin/stats)", () => {
  test("count function bodies that ran, and applyBatch runs per eventId", async () => {
    await setState(A, "running");
    const s0 = await stats(A);
    assert.ok(typeof s0.executions === "object" && typeof s0.eventExecutions === "object");
    const e1 = registerEvent();
    const e2 = registerEvent();
    await call(A, "mutation", "ingest:applyBatch", { events: [e1, e2] });
    await call(A, "mutation", "ingest:applyBatch", { events: [e1] }); // duplicate verdict: still a run

    // Not runs: an argument validator failure, a paused deployment, a missing function.
    await call(A, "mutation", "ingest:applyBatch", { events: [{ ...e1, type: "nope" }] });
    await setState(A, "paused");
    await call(A, "mutation", "ingest:applyBatch", { events: [e1] });
    await setState(A, "running");

    // Over the socket, too.
    const s = new Sync(A);
    await s.connectAdmin();
    s.mutation("ingest:applyBatch", { events: [e2] });
    assert.equal((await s.next("MutationResponse")).success, true);
    s.close();

    const s1 = await stats(A);
    const runs = (p: string) => (s1.executions[p] ?? 0) - (s0.executions[p] ?? 0);
    assert.equal(runs("ingest:applyBatch"), 3);
    assert.equal(s1.eventExecutions[e1.eventId], 2);
    assert.equal(s1.eventExecutions[e2.eventId], 2);
    assert.equal(Math.max(...Object.values(s1.eventExecutions as Record<string, number>)) >= 2, true);

    await call(A, "query", "contract:handshake", {});
    const s2 = await stats(A);
    assert.equal(s2.executions["contract:handshake"] - (s1.executions["contract:handshake"] ?? 0), 1);
  });
});
