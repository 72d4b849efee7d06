// Local Convex stand-in for tests and local development (NOT for production).
//
// Speaks the subset of Convex's sync protocol (WebSocket /api/sync) and HTTP
// API (POST /api/query|mutation|action) that the `convex` Rust crate and the
// project's tooling use, and runs the project's real convex/ functions with
// `convex-test`. See standin/README.md.
//
//   npx tsx standin/server.ts [--port N] [--host 127.0.0.1] [--admin-key KEY] [--state FILE]
//
// On ready it prints exactly one line to stdout:
//   CONVEX_STANDIN_URL=http://127.0.0.1:<port>
// Everything else (including console output of Convex functions) goes to stderr.

import { Console } from "node:console";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { WebSocket, WebSocketServer } from "ws";

import { DEPLOYMENT_STATES, DeploymentState, isDeploymentState, SystemError } from "./deployment";
import { b64u64, Caller, Engine, FunctionKind, RunResult } from "./engine";

// Keep stdout for the ready line only.
const stderrConsole = new Console({ stdout: process.stderr, stderr: process.stderr });
globalThis.console = stderrConsole;
const log = (...a: unknown[]) => console.error(`[standin ${new Date().toISOString()}]`, ...a);

// ------------------------------------------------------------------ options

interface Options {
  port: number;
  host: string;
  adminKey: string;
  state?: string;
  modules?: string;
  parentPid?: number;
  stackTraces: boolean;
  logFile?: string;
  verbose: boolean;
  faultThrowOn?: string;
  deploymentState: DeploymentState;
  udf404OnBadPath: boolean;
  httpFunctionErrorStatus: number;
}

function usage(code: number): never {
  process.stderr.write(
    "usage: tsx standin/server.ts [--port N] [--host 127.0.0.1] [--admin-key KEY] [--state FILE]\n" +
      "                            [--parent-pid PID] [--log-file FILE] [--stack-traces] [--verbose]\n" +
      "  env: STANDIN_PORT, STANDIN_HOST, STANDIN_ADMIN_KEY, STANDIN_STATE, STANDIN_PARENT_PID,\n" +
      "       STANDIN_LOG_FILE, STANDIN_STACK_TRACES=1, STANDIN_VERBOSE=1\n" +
      "  tests only: STANDIN_FAULT_THROW_ON=S makes every mutation whose events include one with\n" +
      "       label or text S throw an Error before it runs (see README, Fault injection)\n" +
      "  tests only: --deployment-state S / STANDIN_DEPLOYMENT_STATE=S starts in state S, one of\n" +
      `       ${DEPLOYMENT_STATES.join(", ")} (also POST /_standin/deployment)\n` +
      "  --udf-404-on-bad-path / STANDIN_UDF_404_ON_BAD_PATH=1: answer missing functions as the current\n" +
      "       backend does by default (HTTP 404; on the sync socket the connection is closed)\n" +
      "  --http-function-error-status 200|560 / STANDIN_HTTP_FUNCTION_ERROR_STATUS: the HTTP status of a\n" +
      "       function error on the HTTP API (default 200, as the backend; 560 as the JS client also accepts)\n" +
      "  (development: --modules FILE / STANDIN_MODULES loads another module map than standin/modules.ts)\n",
  );
  process.exit(code);
}

function parseOptions(argv: string[]): Options {
  const env = process.env;
  const o: Options = {
    port: env.STANDIN_PORT ? Number(env.STANDIN_PORT) : 0,
    host: env.STANDIN_HOST || "127.0.0.1",
    adminKey: env.STANDIN_ADMIN_KEY || "shootlog-standin-admin-key",
    state: env.STANDIN_STATE || undefined,
    modules: env.STANDIN_MODULES || undefined,
    parentPid: env.STANDIN_PARENT_PID ? Number(env.STANDIN_PARENT_PID) : undefined,
    stackTraces: env.STANDIN_STACK_TRACES === "1",
    logFile: env.STANDIN_LOG_FILE || undefined,
    verbose: env.STANDIN_VERBOSE === "1",
    faultThrowOn: env.STANDIN_FAULT_THROW_ON || undefined,
    deploymentState: (env.STANDIN_DEPLOYMENT_STATE || "running") as DeploymentState,
    udf404OnBadPath: env.STANDIN_UDF_404_ON_BAD_PATH === "1",
    httpFunctionErrorStatus: env.STANDIN_HTTP_FUNCTION_ERROR_STATUS
      ? Number(env.STANDIN_HTTP_FUNCTION_ERROR_STATUS)
      : 200,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const flag = a.startsWith("--") && eq !== -1 ? a.slice(0, eq) : a;
    const value = () => {
      if (a.startsWith("--") && eq !== -1) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) usage(2);
      return v;
    };
    switch (flag) {
      case "--port":
        o.port = Number(value());
        break;
      case "--host":
        o.host = value();
        break;
      case "--admin-key":
        o.adminKey = value();
        break;
      case "--state":
        o.state = value();
        break;
      case "--modules":
        o.modules = value();
        break;
      case "--parent-pid":
        o.parentPid = Number(value());
        break;
      case "--log-file":
        o.logFile = value();
        break;
      case "--stack-traces":
        o.stackTraces = true;
        break;
      case "--verbose":
        o.verbose = true;
        break;
      case "--deployment-state":
        o.deploymentState = value() as DeploymentState;
        break;
      case "--udf-404-on-bad-path":
        o.udf404OnBadPath = true;
        break;
      case "--http-function-error-status":
        o.httpFunctionErrorStatus = Number(value());
        break;
      case "-h":
      case "--help":
        usage(0);
      default:
        process.stderr.write(`unknown argument: ${a}\n`);
        usage(2);
    }
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    process.stderr.write(`invalid --port ${o.port}\n`);
    process.exit(2);
  }
  if (!["127.0.0.1", "::1", "localhost"].includes(o.host)) {
    process.stderr.write(`refusing to bind ${o.host}: the stand-in listens on loopback only\n`);
    process.exit(2);
  }
  if (o.httpFunctionErrorStatus !== 200 && o.httpFunctionErrorStatus !== 560) {
    process.stderr.write(`invalid HTTP function error status ${o.httpFunctionErrorStatus}: 200 or 560\n`);
    process.exit(2);
  }
  if (!isDeploymentState(o.deploymentState)) {
    process.stderr.write(`unknown deployment state ${o.deploymentState}: one of ${DEPLOYMENT_STATES.join(", ")}\n`);
    process.exit(2);
  }
  if (o.adminKey === "") {
    process.stderr.write("the admin key must not be empty\n");
    process.exit(2);
  }
  return o;
}

// ------------------------------------------------------------------ helpers

/** Unverified JWT claims (the stand-in does not check signatures). */
function jwtClaims(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length < 2) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    return typeof claims === "object" && claims !== null ? claims : null;
  } catch {
    return null;
  }
}

function decodeTs(s: unknown): bigint | null {
  if (typeof s !== "string") return null;
  const b = Buffer.from(s, "base64");
  return b.length === 8 ? b.readBigUInt64LE() : null;
}

const callerKey = (c: Caller) => (c.kind === "user" ? "u:" + c.token : c.kind);

// ------------------------------------------------------------ sync sessions

interface Version {
  querySet: number;
  identity: number;
  ts: bigint;
}

interface Subscription {
  udfPath: string;
  args: unknown; // Convex JSON of the argument object
  argsKey: string;
  last: string | null; // JSON of the last modification sent (without queryId)
}

class Session {
  static nextId = 1;
  id = Session.nextId++;
  sessionId = "";
  version: Version = { querySet: 0, identity: 0, ts: 0n };
  queries = new Map<number, Subscription>();
  caller: Caller = { kind: "none" };
  dead = false;
  lastSent = Date.now();
  constructor(public ws: WebSocket) {}

  send(msg: Record<string, unknown>) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.lastSent = Date.now();
    this.ws.send(JSON.stringify(msg));
  }
}

/** A query evaluation: the modification to send, or an error that ends the socket. */
type QueryModification = Record<string, unknown> | { system: SystemError };
const isSystem = (m: QueryModification): m is { system: SystemError } => "system" in m;

/** The sync socket ended by an error of a request (not a function error). */
class SocketEnded extends Error {
  constructor(public system: SystemError) {
    super(system.message);
  }
}

class StandIn {
  sessions = new Set<Session>();
  constructor(
    public engine: Engine,
    public opts: Options,
  ) {}

  private async evalQuery(
    s: Session,
    sub: Subscription,
    cache: Map<string, QueryModification>,
  ): Promise<Record<string, unknown>> {
    const key = `${callerKey(s.caller)}\u0000${sub.udfPath}\u0000${sub.argsKey}`;
    let mod = cache.get(key);
    if (mod === undefined) {
      const r = await this.engine.run("query", sub.udfPath, sub.args, s.caller);
      mod = r.ok
        ? { type: "QueryUpdated", value: r.value, logLines: [], journal: null }
        : r.system !== undefined
          ? { system: r.system }
          : {
              type: "QueryFailed",
              errorMessage: r.message,
              logLines: [],
              journal: null,
              ...(r.errorData !== undefined ? { errorData: r.errorData } : {}),
            };
      cache.set(key, mod);
    }
    if (isSystem(mod)) throw new SocketEnded(mod.system);
    return mod;
  }

  /** Re-runs queries of `s` (all, or only `only`) and returns the changed ones. */
  private async refresh(
    s: Session,
    cache: Map<string, QueryModification>,
    only?: Set<number>,
  ): Promise<Record<string, unknown>[]> {
    const mods: Record<string, unknown>[] = [];
    for (const [queryId, sub] of s.queries) {
      if (only && !only.has(queryId)) continue;
      const mod = await this.evalQuery(s, sub, cache);
      const j = JSON.stringify(mod);
      if (j !== sub.last) {
        sub.last = j;
        mods.push({ ...mod, queryId });
      }
    }
    return mods;
  }

  private transition(s: Session, end: Version, modifications: Record<string, unknown>[]) {
    const start = s.version;
    s.version = end;
    s.send({
      type: "Transition",
      startVersion: { querySet: start.querySet, identity: start.identity, ts: b64u64(start.ts) },
      endVersion: { querySet: end.querySet, identity: end.identity, ts: b64u64(end.ts) },
      modifications,
      clientClockSkew: 0,
      serverTs: Number(BigInt(Date.now()) * 1_000_000n),
    });
  }

  /** After a commit: push changed query results (and the new ts) to every session. */
  async broadcast() {
    const cache = new Map<string, QueryModification>();
    const ts = this.engine.ts;
    for (const s of this.sessions) {
      if (s.dead) continue;
      let mods: Record<string, unknown>[];
      try {
        mods = s.queries.size > 0 ? await this.refresh(s, cache) : [];
      } catch (err) {
        if (!(err instanceof SocketEnded)) throw err;
        this.endSocket(s, err.system);
        continue;
      }
      this.transition(s, { ...s.version, ts }, mods);
    }
  }

  fatal(s: Session, message: string) {
    log(`session ${s.id}: FatalError: ${message}`);
    s.send({ type: "FatalError", error: message });
    s.dead = true;
    setTimeout(() => s.ws.close(1011, "FatalError"), 50).unref();
  }

  /**
   * Ends a socket the way the backend's `run_sync_socket` does when its sync
   * worker fails with an error of the request (crates/local_backend/src/subs/mod.rs):
   * a `FatalError` first if the error is a deterministic user error, then a
   * close frame with the error's close code and short code as reason.
   */
  endSocket(s: Session, e: SystemError) {
    log(`session ${s.id}: closing (${e.closeCode} ${e.code}): ${e.message}`);
    if (e.fatal) s.send({ type: "FatalError", error: e.message });
    s.dead = true;
    if (s.ws.readyState === WebSocket.OPEN) s.ws.close(e.closeCode, e.code);
  }

  /** One client message; runs inside the engine's serial queue. */
  async handle(s: Session, msg: any) {
    if (s.dead) return;
    try {
      await this.handleMessage(s, msg);
    } catch (err) {
      if (!(err instanceof SocketEnded)) throw err;
      this.endSocket(s, err.system);
    }
  }

  private async handleMessage(s: Session, msg: any) {
    switch (msg?.type) {
      case "Connect": {
        s.sessionId = String(msg.sessionId ?? "");
        if (this.opts.verbose) {
          log(`session ${s.id}: Connect ${s.sessionId} #${msg.connectionCount} (${msg.lastCloseReason})`);
        }
        // A client that has seen a later timestamp than this deployment knows
        // talked to a deployment with writes this one lacks: serving it would
        // break linearizability. The backend refuses with a plain internal
        // error (crates/sync/src/worker.rs, `handle_message`, Connect), so
        // there is no message, and the socket closes with 1011
        // "InternalServerError" (crates/errors/src/lib.rs, `close_frame`).
        const observed = decodeTs(msg.maxObservedTimestamp);
        const latest = this.engine.latestTimestamp();
        if (observed !== null && observed > latest) {
          log(
            `session ${s.id}: Client has observed a timestamp Timestamp(${observed}) ahead of the backend ` +
              `latest known timestamp Timestamp(${latest})`,
          );
          throw new SocketEnded({
            status: 500,
            code: "InternalServerError",
            message: "Your request couldn't be completed. Try again later.",
            fatal: false,
            closeCode: 1011,
          });
        }
        return;
      }
      case "Authenticate": {
        if (msg.baseVersion !== s.version.identity) {
          return this.fatal(s, `Authenticate baseVersion ${msg.baseVersion} != identity version ${s.version.identity}`);
        }
        let caller: Caller;
        if (msg.tokenType === "Admin") {
          if (msg.value !== this.opts.adminKey) {
            log(`session ${s.id}: AuthError: wrong admin key`);
            s.send({
              type: "AuthError",
              error: "The provided admin key was invalid for this instance",
              baseVersion: msg.baseVersion,
              authUpdateAttempted: true,
            });
            s.dead = true; // stop handling this socket's messages
            setTimeout(() => s.ws.close(1000, "AuthError"), 100).unref();
            return;
          }
          caller = { kind: "admin" };
        } else if (msg.tokenType === "User") {
          const claims = jwtClaims(String(msg.value ?? ""));
          if (claims === null) {
            s.send({
              type: "AuthError",
              error: "Could not parse the user token as a JWT",
              baseVersion: msg.baseVersion,
              authUpdateAttempted: true,
            });
            s.dead = true;
            setTimeout(() => s.ws.close(1000, "AuthError"), 100).unref();
            return;
          }
          caller = { kind: "user", token: String(msg.value), claims };
        } else {
          caller = { kind: "none" };
        }
        s.caller = caller;
        for (const sub of s.queries.values()) sub.last = null;
        const mods = await this.refresh(s, new Map());
        this.transition(s, { ...s.version, identity: msg.baseVersion + 1, ts: this.engine.ts }, mods);
        return;
      }
      case "ModifyQuerySet": {
        if (msg.baseVersion !== s.version.querySet) {
          return this.fatal(s, `ModifyQuerySet baseVersion ${msg.baseVersion} != query set version ${s.version.querySet}`);
        }
        const added = new Set<number>();
        const removed: Record<string, unknown>[] = [];
        for (const m of msg.modifications ?? []) {
          if (m.type === "Add") {
            const args = Array.isArray(m.args) ? (m.args[0] ?? {}) : (m.args ?? {});
            s.queries.set(m.queryId, { udfPath: m.udfPath, args, argsKey: JSON.stringify(args), last: null });
            added.add(m.queryId);
          } else if (m.type === "Remove") {
            s.queries.delete(m.queryId);
            added.delete(m.queryId);
            removed.push({ type: "QueryRemoved", queryId: m.queryId });
          }
        }
        const mods = added.size > 0 ? await this.refresh(s, new Map(), added) : [];
        this.transition(s, { ...s.version, querySet: msg.newVersion, ts: this.engine.ts }, [...removed, ...mods]);
        return;
      }
      case "Mutation":
      case "Action": {
        const kind: FunctionKind = msg.type === "Mutation" ? "mutation" : "action";
        const args = Array.isArray(msg.args) ? (msg.args[0] ?? {}) : (msg.args ?? {});
        const commitsBefore = this.engine.stats.commits;
        const r = await this.engine.run(kind, String(msg.udfPath), args, s.caller);
        if (this.opts.verbose) log(`session ${s.id}: ${msg.type} ${msg.udfPath} -> ${r.ok ? "ok" : r.message}`);
        if (!r.ok && r.system !== undefined) throw new SocketEnded(r.system);
        const base = { requestId: msg.requestId, logLines: [] as string[] };
        if (kind === "mutation") {
          s.send(
            r.ok
              ? { type: "MutationResponse", ...base, success: true, result: r.value, ts: b64u64(r.ts) }
              : {
                  type: "MutationResponse",
                  ...base,
                  success: false,
                  result: r.message,
                  ...(r.errorData !== undefined ? { errorData: r.errorData } : {}),
                },
          );
        } else {
          s.send(
            r.ok
              ? { type: "ActionResponse", ...base, success: true, result: r.value }
              : {
                  type: "ActionResponse",
                  ...base,
                  success: false,
                  result: r.message,
                  ...(r.errorData !== undefined ? { errorData: r.errorData } : {}),
                },
          );
        }
        // A mutation resolves on the client only once a Transition at or past
        // its ts arrives (a failed one with ConvexError data, at the next
        // Transition), so always follow up with one.
        if (this.engine.stats.commits !== commitsBefore) {
          await this.broadcast();
        } else if (kind === "mutation") {
          this.transition(s, { ...s.version, ts: this.engine.ts }, []);
        }
        return;
      }
      case "Event":
        return;
      default:
        return this.fatal(s, `Unknown message type ${JSON.stringify(msg?.type)}`);
    }
  }

  // ----------------------------------------------------------------- HTTP API

  /**
   * Test-only control routes (README, "Fault injection"): not part of
   * Convex. Both go through the execution queue, so they take effect after
   * (and report on) everything that arrived before them.
   *   GET  /_standin/deployment            -> {"state"}
   *   POST /_standin/deployment {"state"}  -> {"state"} (the new one)
   *   GET  /_standin/stats                 -> {"executions", "eventExecutions"}
   *   POST /_standin/contention {"failures"} -> {"failures"}: the next that
   *        many mutations answer Convex's write-conflict (OCC) error
   */
  private async handleControl(
    req: http.IncomingMessage,
    url: URL,
    reply: (status: number, body: unknown) => void,
  ) {
    if (url.pathname === "/_standin/stats" && req.method === "GET") {
      return reply(200, await this.engine.enqueue(() => this.engine.executionStats()));
    }
    if (url.pathname === "/_standin/contention" && req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let failures: unknown;
      try {
        failures = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}")?.failures;
      } catch {
        return reply(400, { code: "BadJsonBody", message: "The request body is not valid JSON" });
      }
      if (typeof failures !== "number" || !Number.isSafeInteger(failures) || failures < 0) {
        return reply(400, { code: "BadContention", message: "failures must be an integer >= 0" });
      }
      const n = failures;
      await this.engine.enqueue(() => {
        this.engine.contentionFailures = n;
      });
      return reply(200, { failures: n });
    }
    if (url.pathname === "/_standin/deployment" && req.method === "GET") {
      return reply(200, { state: this.engine.deployment });
    }
    if (url.pathname === "/_standin/deployment" && req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let state: unknown;
      try {
        state = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}")?.state;
      } catch {
        return reply(400, { code: "BadJsonBody", message: "The request body is not valid JSON" });
      }
      if (!isDeploymentState(state)) {
        return reply(400, {
          code: "BadDeploymentState",
          message: `state must be one of ${DEPLOYMENT_STATES.join(", ")}; got ${JSON.stringify(state)}`,
        });
      }
      const now = await this.engine.enqueue(() => {
        const before = this.engine.deployment;
        this.engine.deployment = state;
        if (before !== state) log(`deployment state: ${before} -> ${state}`);
        return state;
      });
      return reply(200, { state: now });
    }
    return reply(404, { code: "NotFound", message: `No route for ${req.method} ${url.pathname}` });
  }

  private httpCaller(req: http.IncomingMessage): Caller | "bad-key" {
    const h = req.headers.authorization;
    if (!h) return { kind: "none" };
    const m = /^(\S+)\s+(.*)$/.exec(h.trim());
    if (!m) return "bad-key";
    if (m[1] === "Convex") return m[2] === this.opts.adminKey ? { kind: "admin" } : "bad-key";
    if (m[1] === "Bearer") {
      const claims = jwtClaims(m[2]);
      return claims === null ? "bad-key" : { kind: "user", token: m[2], claims };
    }
    return "bad-key";
  }

  async handleHttp(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? "/", "http://localhost");
    const reply = (status: number, body: unknown, type = "application/json") => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (url.pathname.startsWith("/_standin/")) return this.handleControl(req, url, reply);
    if (req.method === "GET" || req.method === "HEAD") {
      switch (url.pathname) {
        case "/health":
        case "/version":
          return reply(200, "shootlog convex stand-in\n", "text/plain");
        case "/instance_name":
          return reply(200, "shootlog-standin", "text/plain");
        case "/api/check_admin_key": {
          const c = this.httpCaller(req);
          return c !== "bad-key" && c.kind === "admin"
            ? reply(200, "")
            : reply(401, { code: "BadAdminKey", message: "The provided admin key was invalid for this instance" });
        }
      }
      return reply(404, { code: "NotFound", message: `No route for GET ${url.pathname}` });
    }
    const m = /^\/api\/(query|mutation|action)$/.exec(url.pathname);
    if (req.method !== "POST" || !m) {
      return reply(404, { code: "NotFound", message: `No route for ${req.method} ${url.pathname}` });
    }
    const kind = m[1] as FunctionKind;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    } catch {
      return reply(400, { code: "BadJsonBody", message: "The request body is not valid JSON" });
    }
    if (typeof body?.path !== "string") {
      return reply(400, { code: "BadRequest", message: "Missing `path`" });
    }
    const caller = this.httpCaller(req);
    if (caller === "bad-key") {
      return reply(401, { code: "BadAdminKey", message: "The provided admin key was invalid for this instance" });
    }
    const args = Array.isArray(body.args) ? (body.args[0] ?? {}) : (body.args ?? {});
    const r = await this.engine.enqueue(async () => {
      const before = this.engine.stats.commits;
      const r = await this.engine.run(kind, body.path, args, caller);
      if (this.engine.stats.commits !== before) await this.broadcast();
      return r;
    });
    if (this.opts.verbose) log(`http ${kind} ${body.path} -> ${r.ok ? "ok" : r.message}`);
    if (r.ok) return reply(200, { status: "success", value: r.value, logLines: [] });
    if (r.system !== undefined) return reply(r.system.status, { code: r.system.code, message: r.system.message });
    // A function error: HTTP 200 with "status": "error" in the open-source
    // backend (crates/local_backend/src/public_api.rs returns
    // `Json(UdfResponse::Error …)`); 560 (STATUS_CODE_UDF_FAILED) is what
    // the JS client's ConvexHttpClient also accepts. Callers must read
    // `status` in the body.
    return reply(this.opts.httpFunctionErrorStatus, {
      status: "error",
      errorMessage: r.message,
      ...(r.errorData !== undefined ? { errorData: r.errorData } : {}),
      logLines: [],
    });
  }
}

// ---------------------------------------------------------------------- main

/**
 * Never outlive whoever started us. `tsx standin/server.ts` runs the server in
 * a child of the tsx CLI, which relays SIGTERM/SIGINT but cannot relay
 * SIGKILL: a test harness that kills the wrapper would leave an orphan that
 * keeps the port (and its in-memory state). So: exit when the tsx wrapper that
 * started us dies, and when --parent-pid PID (if given) dies.
 */
function watchParents(opts: Options) {
  const initialPpid = process.ppid;
  let parentIsTsxWrapper = false;
  try {
    const cmd = fs.readFileSync(`/proc/${initialPpid}/cmdline`, "utf8").split("\0").join(" ");
    parentIsTsxWrapper = /tsx/.test(cmd) && /standin[/\\]server/.test(cmd);
  } catch {
    // no /proc: only --parent-pid applies
  }
  if (!parentIsTsxWrapper && opts.parentPid === undefined) return;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  };
  const timer = setInterval(() => {
    if (parentIsTsxWrapper && process.ppid !== initialPpid) {
      log("the tsx wrapper that started the stand-in is gone: exiting");
      process.exit(0);
    }
    if (opts.parentPid !== undefined && !alive(opts.parentPid)) {
      log(`parent process ${opts.parentPid} is gone: exiting`);
      process.exit(0);
    }
  }, 500);
  timer.unref();
}

async function loadModules(file?: string): Promise<{ modules: any; schema: any }> {
  const spec = file ? pathToFileURL(path.resolve(file)).href : "./modules";
  const m: any = await import(spec);
  const modules = m.modules ?? m.default?.modules;
  const schema = m.schema ?? m.default?.schema;
  if (!modules || !schema) throw new Error(`${file ?? "standin/modules.ts"} must export \`modules\` and \`schema\``);
  return { modules, schema };
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.logFile) {
    // Logs (and console output of Convex functions) to a file instead of stderr.
    const out = fs.createWriteStream(opts.logFile, { flags: "a" });
    globalThis.console = new Console({ stdout: out, stderr: out });
  }
  watchParents(opts);
  // convex-test validates union-typed values by trying each member and
  // catching the Error it throws; capturing stack traces for those throw-aways
  // costs about a third of an ingest's time. No stacks unless asked for.
  Error.stackTraceLimit = opts.stackTraces ? 20 : 0;
  const { modules, schema } = await loadModules(opts.modules);
  const engine = await Engine.create({
    modules,
    schema,
    statePath: opts.state,
    deploymentState: opts.deploymentState,
    udf404OnBadPath: opts.udf404OnBadPath,
    faultThrowOn: opts.faultThrowOn,
  });
  const standin = new StandIn(engine, opts);

  const server = http.createServer((req, res) => {
    standin.handleHttp(req, res).catch((err) => {
      log("http handler error:", err);
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "InternalServerError", message: String(err) }));
    });
  });
  server.keepAliveTimeout = 60_000;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

  server.on("upgrade", (req, socket, head) => {
    // `/api/sync` (the Rust client) and `/api/<client version>/sync` (the JS
    // client: `/api/1.48.0/sync`), as crates/local_backend/src/router.rs
    // routes them; the version segment is not interpreted.
    const p = new URL(req.url ?? "/", "http://localhost").pathname;
    if (!/^\/api\/(?:[^/]+\/)?sync$/.test(p)) {
      socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });

  wss.on("connection", (ws: WebSocket) => {
    const s = new Session(ws);
    standin.sessions.add(s);
    if (opts.verbose) log(`session ${s.id}: open`);
    ws.on("message", (data, isBinary) => {
      if (s.dead) return;
      let msg: any;
      try {
        msg = JSON.parse(isBinary ? Buffer.from(data as Buffer).toString("utf8") : data.toString());
      } catch {
        standin.fatal(s, "Malformed JSON message");
        return;
      }
      engine.enqueue(() => standin.handle(s, msg)).catch((err) => {
        log(`session ${s.id}: error handling ${msg?.type}:`, err);
        standin.fatal(s, `Internal stand-in error: ${err}`);
      });
    });
    ws.on("close", (code, reason) => {
      standin.sessions.delete(s);
      s.dead = true;
      if (opts.verbose) log(`session ${s.id}: closed ${code} ${reason}`);
    });
    ws.on("error", (err) => log(`session ${s.id}: socket error:`, err.message));
  });

  // Convex clients reconnect after 30 s without a server message: ping at 15 s.
  const pinger = setInterval(() => {
    const now = Date.now();
    for (const s of standin.sessions) {
      if (!s.dead && now - s.lastSent >= 15_000) s.send({ type: "Ping" });
    }
  }, 5_000);
  pinger.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as { port: number; address: string };
  const hostForUrl = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
  process.stdout.write(`CONVEX_STANDIN_URL=http://${hostForUrl}:${addr.port}\n`);
  log(
    `listening on http://${hostForUrl}:${addr.port} (sync: ws://${hostForUrl}:${addr.port}/api/sync); ` +
      (opts.state ? `state file ${opts.state}` : "in-memory (no --state)") +
      (opts.deploymentState !== "running" ? `; deployment state ${opts.deploymentState} (tests only)` : ""),
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    server.close();
    for (const s of standin.sessions) s.dead = true;
    await Promise.race([engine.drain(), new Promise((r) => setTimeout(r, 3_000))]);
    for (const s of standin.sessions) s.ws.close(1001, "stand-in shutting down");
    engine.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("unhandledRejection", (err) => log("unhandled rejection:", err));
}

main().catch((err) => {
  log("failed to start:", err);
  process.exit(1);
});
