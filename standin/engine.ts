// The execution engine of the local Convex stand-in.
//
// It runs the project's real Convex functions with `convex-test` and adds what
// a test library does not have but a long-running local backend needs:
//   - function visibility (internal functions only for admin callers),
//   - Convex's per-function transaction limits, with the real numbers and
//     the real messages (convex-test counts, the engine rewords),
//   - switchable deployment states for tests (standin/deployment.ts),
//   - counts of how often each function body ran (tests: GET /_standin/stats),
//   - one serial execution queue (every query, mutation and action runs alone,
//     in arrival order, so every read sees a consistent, committed state),
//   - a commit timestamp per transaction (the sync protocol's `ts`),
//   - durable state (a write-ahead log of committed documents, --state FILE),
//   - indexed reads: convex-test scans every document of the database for
//     every `withIndex` read, which makes an ingest of N events O(N^2); the
//     engine narrows reads to one table and, for an index whose first field is
//     compared with `eq`, to the documents holding that value.
//
// The last two reach into convex-test's in-memory database (`DatabaseFake`),
// which is not a public API. They are checked at start-up against the pinned
// convex-test 0.0.60 and the stand-in refuses to start if its shape changed.

import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import path from "node:path";

import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import { convexToJson, jsonToConvex } from "convex/values";

import {
  DeploymentState,
  DISABLED_ERROR_MESSAGE_FREE_PLAN,
  forbiddenInternalError,
  INCOMPATIBLE_CONTRACT_OFFSET,
  notFoundError,
  notFoundMessage,
  PAUSED_ERROR_MESSAGE,
  SystemError,
  wrongTypeError,
} from "./deployment";

export type FunctionKind = "query" | "mutation" | "action";

/** Who is calling: the admin (deploy key), an (unverified) user, or nobody. */
export type Caller =
  | { kind: "admin" }
  | { kind: "user"; token: string; claims: Record<string, unknown> }
  | { kind: "none" };

/**
 * A call's outcome: a value, a function error (`system` absent: what the
 * function threw, or a JsError the backend answers in its place), or an
 * error of the request itself (`system`: not a function error; see
 * standin/deployment.ts).
 */
export type RunResult =
  | { ok: true; value: unknown /* Convex JSON */; ts: bigint }
  | { ok: false; message: string; errorData?: unknown /* Convex JSON */; system?: SystemError; ts: bigint };

type ModuleMap = Record<string, () => Promise<any>>;

interface ResolvedFunction {
  canonical: string; // "dir/module:export"
  kind: FunctionKind;
  isInternal: boolean;
}

const log = (...a: unknown[]) => console.error(`[standin ${new Date().toISOString()}]`, ...a);

export { notFoundMessage };

/**
 * A function path as the backend prints it in errors (`UdfPath::strip`,
 * crates/convex/sync_types/src/udf_path.rs): no ".js" extension, no
 * ":default".
 */
export function displayUdfPath(udfPath: string): string {
  const i = udfPath.lastIndexOf(":");
  let mod = i === -1 ? udfPath : udfPath.slice(0, i);
  const name = i === -1 ? "default" : udfPath.slice(i + 1);
  mod = mod.replace(/\.js$/, "");
  return name === "default" ? mod : `${mod}:${name}`;
}

/**
 * The per-function transaction limits of real Convex (crates/common/src/knobs.rs,
 * main as of 2026-08), in convex-test's `transactionLimits` shape. convex-test
 * 0.0.60's own defaults are the same numbers; they are spelled out so that
 * the stand-in does not change with them.
 */
export const TRANSACTION_LIMITS = {
  documentsRead: 32_000, // TRANSACTION_MAX_READ_SIZE_ROWS
  bytesRead: 16 * 1024 * 1024, // TRANSACTION_MAX_READ_SIZE_BYTES
  databaseQueries: 4_096, // TRANSACTION_MAX_READ_SET_INTERVALS (convex-test counts every query and get; the backend merges overlapping ranges)
  documentsWritten: 16_000, // TRANSACTION_MAX_NUM_USER_WRITES
  bytesWritten: 16 * 1024 * 1024, // TRANSACTION_MAX_USER_WRITE_SIZE_BYTES
  functionsScheduled: 1_000, // TRANSACTION_MAX_NUM_SCHEDULED
  scheduledFunctionArgsBytes: 16 * 1024 * 1024, // TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES
};

// crates/database/src/reads.rs, OVER_LIMIT_HELP
const OVER_LIMIT_HELP =
  "Consider using smaller limits in your queries, paginating your queries, or using indexed queries " +
  "with a selective index range expressions.";

/** 16777216 -> "16 MiB", as crates/common/src/fmt.rs `format_bytes` does for whole units. */
function formatBytes(n: number): string {
  for (const [size, unit] of [
    [1 << 30, "GiB"],
    [1_000_000_000, "GB"],
    [1 << 20, "MiB"],
    [1_000_000, "MB"],
    [1 << 10, "KiB"],
    [1_000, "KB"],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

/**
 * convex-test's transaction-limit messages, reworded as the backend words
 * them (crates/database/src/reads.rs `record_read_document` /
 * `record_indexed_directly`, crates/database/src/writes.rs). In both, the
 * limit is hit inside a database call and thrown into the function as an
 * Error, so an uncaught one ends as "Uncaught Error: <message>". Other
 * messages are returned unchanged.
 */
export function realLimitMessage(message: string): string {
  const help = "This is a Convex limit: https://docs.convex.dev/production/state/limits";
  const rules: [RegExp, (n: number) => string][] = [
    [/Read too much data in a single function execution \(limit: (\d+) bytes\)\. /, (n) =>
      `Too many bytes read in a single function execution (limit: ${n} bytes). ${OVER_LIMIT_HELP}`],
    [/Scanned too many documents in a single function execution \(limit: (\d+)\)\. /, (n) =>
      `Too many documents read in a single function execution (limit: ${n}). ${OVER_LIMIT_HELP}`],
    [/Too many index ranges read in a single function execution \(limit: (\d+)\)\. /, (n) =>
      `Too many reads in a single function execution (limit: ${n}). ${OVER_LIMIT_HELP}`],
    [/Wrote too many documents in a single function execution \(limit: (\d+)\)\. /, (n) =>
      `Too many writes in a single function execution (limit: ${n})`],
    [/Wrote too much data in a single function execution \(limit: (\d+) bytes\)\. /, (n) =>
      `Too many bytes written in a single function execution (limit: ${formatBytes(n)})`],
  ];
  for (const [re, real] of rules) {
    const m = re.exec(message);
    if (m !== null && message.includes(help)) {
      return message.slice(0, m.index) + real(Number(m[1])) + message.slice(m.index + m[0].length + help.length);
    }
  }
  return message;
}

/** "dir/mod.js:fn" | "dir/mod:fn" | "dir/mod" -> "dir/mod:fn" (default export: "default"). */
export function canonicalUdfPath(udfPath: string): string {
  const i = udfPath.lastIndexOf(":");
  let mod = i === -1 ? udfPath : udfPath.slice(0, i);
  const name = i === -1 ? "default" : udfPath.slice(i + 1);
  mod = mod.replace(/\.(js|ts|mjs|cjs|jsx|tsx)$/, "");
  return `${mod}:${name}`;
}

function tableNameFromId(id: string): string | null {
  const m = /^[0-9]+/.exec(id);
  if (!m || m[0].length === id.length) return null;
  return id.slice(m[0].length);
}

/** Bucket key of an indexed value; null for values that are not bucketed. */
function keyOfValue(v: unknown): string | null {
  switch (typeof v) {
    case "string":
      return "s:" + v;
    case "number":
      return v === 0 ? "n:0" : "n:" + String(v); // 0 and -0 share a bucket
    case "boolean":
      return "b:" + v;
    case "bigint":
      return "i:" + v.toString();
    case "undefined":
      return "u";
    default:
      return v === null ? "null" : null;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const p = Object.getPrototypeOf(v);
  return p === null || p === Object.prototype;
}

function fieldValue(doc: Record<string, unknown>, fieldPath: string): unknown {
  let cur: unknown = doc;
  for (const part of fieldPath.split(".")) {
    cur = isPlainObject(cur) ? cur[part] : undefined;
  }
  return cur;
}

interface FieldIndex {
  buckets: Map<string, Set<string>>;
  unbucketed: Set<string>; // docs whose value is an object/array/bytes
  keyOfDoc: Map<string, string | null>;
}

function b64u64(ts: bigint): string {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(ts);
  return buf.toString("base64");
}
export { b64u64 };

export interface EngineOptions {
  modules: ModuleMap;
  schema: unknown;
  statePath?: string;
  /** Start in this deployment state (tests only; default "running"). */
  deploymentState?: DeploymentState;
  /** Answer missing functions as the current backend does by default (knob UDF_404_ON_BAD_PATH). */
  udf404OnBadPath?: boolean;
  /** Tests only: fail every mutation carrying an event with this label or text (README, Fault injection). */
  faultThrowOn?: string;
}

/** Stand-in statistics (tests): how often function bodies ran. */
export interface ExecutionStats {
  /** canonical udfPath ("ingest:applyBatch") -> times its handler was entered. */
  executions: Record<string, number>;
  /** eventId -> times an `ingest:applyBatch` execution included it. */
  eventExecutions: Record<string, number>;
}

const INSTRUMENTED = Symbol.for("shootlog.standin.instrumented");

export class Engine {
  private t: any;
  private db: any;
  private tm: any;
  private modules: ModuleMap;
  private moduleRoot: string;
  private loaders = new Map<string, () => Promise<any>>();
  private resolved = new Map<string, ResolvedFunction | null>();
  private userAccessors = new Map<string, any>();
  private tail: Promise<unknown> = Promise.resolve();
  private stateFd: number | null = null;
  private statePath?: string;
  private persisting = false;
  /** Highest timestamp handed out (commit ts, or the start time), ns since epoch. */
  public ts: bigint;
  /** Called after every top-level commit, inside the execution queue. */
  public onCommit: ((ts: bigint) => void) | null = null;
  public stats = { commits: 0, records: 0 };
  /** The deployment state (tests only, see standin/deployment.ts). */
  public deployment: DeploymentState;
  private udf404OnBadPath: boolean;
  private faultThrowOn?: string;
  /** Test-only: how many of the next mutations answer a write conflict. */
  public contentionFailures = 0;
  private executions = new Map<string, number>();
  private eventExecutions = new Map<string, number>();

  // Indexes over committed documents.
  private tableIds = new Map<string, Set<string>>();
  private fieldIndexes = new Map<string, FieldIndex>(); // "table\u0000field"
  private levelTables = new WeakMap<object, Map<string, Set<string>>>();
  private narrow: { table: string; field: string; key: string } | null = null;

  private constructor(opts: EngineOptions) {
    // convex-test calls a module's loader on every function call; under tsx
    // each dynamic import() is a round trip to the loader-hooks thread
    // (~1-2 ms of latency per call). Load each module once.
    // Each function's handler is wrapped on load to count its executions.
    const gen = Object.keys(opts.modules).find((k) => k.includes("_generated"));
    if (gen === undefined) {
      throw new Error('the module map has no "_generated" entry (convex-test needs one)');
    }
    this.moduleRoot = gen.split("_generated", 2)[0];
    this.modules = Object.fromEntries(
      Object.entries(opts.modules).map(([k, load]) => {
        let loaded: Promise<any> | null = null;
        const modPath = k.startsWith(this.moduleRoot)
          ? k.slice(this.moduleRoot.length).replace(/\.[^./]+$/, "")
          : null;
        return [
          k,
          () =>
            (loaded ??= load().then((m) => {
              if (modPath !== null && !modPath.includes("_generated")) this.instrument(modPath, m);
              return m;
            })),
        ];
      }),
    );
    this.statePath = opts.statePath;
    this.deployment = opts.deploymentState ?? "running";
    this.udf404OnBadPath = opts.udf404OnBadPath === true;
    this.faultThrowOn = opts.faultThrowOn;
    for (const [k, loader] of Object.entries(this.modules)) {
      if (!k.startsWith(this.moduleRoot)) continue;
      this.loaders.set(k.slice(this.moduleRoot.length).replace(/\.[^./]+$/, ""), loader);
    }
    this.t = convexTest({
      schema: opts.schema as any,
      modules: this.modules as any,
      transactionLimits: TRANSACTION_LIMITS,
    });
    this.ts = BigInt(Date.now()) * 1_000_000n;
  }

  /** Wraps every registered function's handler of module `modPath` to count its runs. */
  private instrument(modPath: string, m: Record<string, any>) {
    for (const [name, f] of Object.entries(m ?? {})) {
      if (f === null || (typeof f !== "function" && typeof f !== "object")) continue;
      if (!(f.isQuery || f.isMutation || f.isAction) || typeof f._handler !== "function") continue;
      if (f[INSTRUMENTED]) continue;
      const canonical = `${modPath}:${name}`;
      const handler = f._handler;
      const engine = this;
      f._handler = function (ctx: unknown, args: unknown) {
        engine.countExecution(canonical, args);
        return handler.call(this, ctx, args);
      };
      f[INSTRUMENTED] = true;
    }
  }

  private countExecution(canonical: string, args: unknown) {
    this.executions.set(canonical, (this.executions.get(canonical) ?? 0) + 1);
    if (canonical !== "ingest:applyBatch") return;
    const events = (args as { events?: unknown } | null)?.events;
    if (!Array.isArray(events)) return;
    const ids = new Set<string>();
    for (const e of events) {
      const id = (e as { eventId?: unknown } | null)?.eventId;
      if (typeof id === "string") ids.add(id);
    }
    for (const id of ids) this.eventExecutions.set(id, (this.eventExecutions.get(id) ?? 0) + 1);
  }

  /** How often each function body ran, and each event was in an applyBatch run (since start). */
  executionStats(): ExecutionStats {
    return {
      executions: Object.fromEntries(this.executions),
      eventExecutions: Object.fromEntries(this.eventExecutions),
    };
  }

  static async create(opts: EngineOptions): Promise<Engine> {
    const e = new Engine(opts);
    await e.captureInternals();
    e.patchDatabase();
    if (e.statePath) e.loadState(e.statePath);
    return e;
  }

  // ---------------------------------------------------------------- internals

  /** Finds convex-test's per-instance global (database + transaction manager). */
  private async captureInternals() {
    const proto = AsyncLocalStorage.prototype as any;
    const origRun = proto.run;
    let captured: any = null;
    proto.run = function (store: any, ...rest: any[]) {
      if (
        captured === null &&
        store &&
        typeof store === "object" &&
        "components" in store &&
        "transactionManager" in store
      ) {
        captured = store;
      }
      return origRun.call(this, store, ...rest);
    };
    try {
      await this.t.run(async () => null);
    } finally {
      proto.run = origRun;
    }
    const db = captured?.components?.[""]?.db;
    const tm = captured?.transactionManager;
    const ok =
      db &&
      tm &&
      typeof db._documents === "object" &&
      typeof db._nextDocId === "number" &&
      typeof db._lastCreationTime === "number" &&
      Array.isArray(db._writes) &&
      typeof db._iterateDocs === "function" &&
      typeof db._resolveQuerySource === "function" &&
      typeof db._addWrite === "function" &&
      typeof db.commit === "function" &&
      typeof db.get === "function" &&
      typeof tm._lastCommitTs === "bigint";
    if (!ok) {
      throw new Error(
        "convex-test internals are not what the stand-in expects (it is written against convex-test 0.0.60)",
      );
    }
    this.db = db;
    this.tm = tm;
  }

  private levelMap(level: Record<string, unknown>): Map<string, Set<string>> {
    let m = this.levelTables.get(level);
    if (m === undefined) {
      m = new Map();
      for (const id of Object.keys(level)) {
        const table = tableNameFromId(id);
        if (table === null) continue;
        let s = m.get(table);
        if (!s) m.set(table, (s = new Set()));
        s.add(id);
      }
      this.levelTables.set(level, m);
    }
    return m;
  }

  private fieldIndex(table: string, field: string): FieldIndex {
    const k = table + "\u0000" + field;
    let idx = this.fieldIndexes.get(k);
    if (idx === undefined) {
      idx = { buckets: new Map(), unbucketed: new Set(), keyOfDoc: new Map() };
      for (const id of this.tableIds.get(table) ?? []) {
        this.indexAdd(idx, id, this.db._documents[id], field);
      }
      this.fieldIndexes.set(k, idx);
    }
    return idx;
  }

  private indexAdd(idx: FieldIndex, id: string, doc: any, field: string) {
    const key = keyOfValue(fieldValue(doc, field));
    idx.keyOfDoc.set(id, key);
    if (key === null) {
      idx.unbucketed.add(id);
    } else {
      let s = idx.buckets.get(key);
      if (!s) idx.buckets.set(key, (s = new Set()));
      s.add(id);
    }
  }

  private indexRemove(idx: FieldIndex, id: string) {
    if (!idx.keyOfDoc.has(id)) return;
    const key = idx.keyOfDoc.get(id)!;
    idx.keyOfDoc.delete(id);
    if (key === null) {
      idx.unbucketed.delete(id);
    } else {
      const s = idx.buckets.get(key);
      if (s) {
        s.delete(id);
        if (s.size === 0) idx.buckets.delete(key);
      }
    }
  }

  /** Keeps the table/field indexes in step with committed documents. */
  private reindex(ids: Iterable<string>) {
    const docs = this.db._documents;
    for (const id of ids) {
      const table = tableNameFromId(id);
      if (table === null) continue;
      const doc = docs[id];
      let set = this.tableIds.get(table);
      if (doc === undefined) {
        set?.delete(id);
      } else {
        if (!set) this.tableIds.set(table, (set = new Set()));
        set.add(id);
      }
      for (const [k, idx] of this.fieldIndexes) {
        const sep = k.indexOf("\u0000");
        if (k.slice(0, sep) !== table) continue;
        this.indexRemove(idx, id);
        if (doc !== undefined) this.indexAdd(idx, id, doc, k.slice(sep + 1));
      }
    }
  }

  private patchDatabase() {
    const engine = this;
    const db = this.db;
    this.reindex(Object.keys(db._documents));

    const origAddWrite = db._addWrite;
    db._addWrite = function (id: string, value: unknown) {
      origAddWrite.call(this, id, value);
      const level = this._writes[this._writes.length - 1];
      const m = engine.levelTables.get(level);
      if (m === undefined) {
        engine.levelMap(level); // builds from the level, including this id
      } else {
        const table = tableNameFromId(id);
        if (table !== null) {
          let s = m.get(table);
          if (!s) m.set(table, (s = new Set()));
          s.add(id);
        }
      }
    };

    const origResolve = db._resolveQuerySource;
    db._resolveQuerySource = function (query: any) {
      const source = query?.source;
      let narrow: typeof engine.narrow = null;
      if (source?.type === "IndexRange" && Array.isArray(source.range) && source.range[0]?.type === "Eq") {
        const [table, indexName] = String(source.indexName).split(".");
        const first = source.range[0];
        const raw = first.value;
        const isUndef = typeof raw === "object" && raw !== null && "$undefined" in raw;
        if (indexName !== "by_creation_time" && indexName !== "by_id") {
          try {
            const key = keyOfValue(isUndef ? undefined : jsonToConvex(raw));
            if (key !== null) narrow = { table, field: first.fieldPath, key };
          } catch {
            narrow = null;
          }
        }
      }
      engine.narrow = narrow;
      try {
        return origResolve.call(this, query);
      } finally {
        engine.narrow = null;
      }
    };

    db._iterateDocs = function (tableName: string, callback: (doc: any) => void) {
      const ids = new Set<string>();
      const n = engine.narrow;
      if (n !== null && n.table === tableName) {
        const idx = engine.fieldIndex(tableName, n.field);
        for (const id of idx.buckets.get(n.key) ?? []) ids.add(id);
        for (const id of idx.unbucketed) ids.add(id);
      } else {
        for (const id of engine.tableIds.get(tableName) ?? []) ids.add(id);
      }
      for (const level of this._writes) {
        for (const id of engine.levelMap(level).get(tableName) ?? []) ids.add(id);
      }
      for (const id of ids) {
        const doc = this.get(tableName, id);
        if (doc !== null) callback(doc);
      }
    };

    const origCommit = db.commit;
    db.commit = function (commitTs: bigint | null = null) {
      const topLevel = this._writes.length === 1;
      const writes = topLevel ? this._writes[0] : null;
      origCommit.call(this, commitTs);
      if (topLevel) engine.afterTopLevelCommit(Object.keys(writes), commitTs);
    };
  }

  private afterTopLevelCommit(ids: string[], commitTs: bigint | null) {
    this.reindex(ids);
    if (commitTs !== null && commitTs > this.ts) this.ts = commitTs;
    this.stats.commits++;
    if (this.stateFd !== null && ids.length > 0) {
      const docs = this.db._documents;
      const w = ids.map((id) => [id, docs[id] === undefined ? null : convexToJson(docs[id])]);
      this.appendRecord({
        ts: (commitTs ?? this.ts).toString(),
        n: this.db._nextDocId,
        c: this.db._lastCreationTime,
        w,
      });
    }
  }

  // -------------------------------------------------------------- persistence

  private appendRecord(rec: unknown) {
    const line = JSON.stringify(rec) + "\n";
    try {
      fs.writeSync(this.stateFd!, line);
      fs.fdatasyncSync(this.stateFd!);
      this.stats.records++;
    } catch (err) {
      // A commit that cannot be made durable must not be acknowledged.
      log("FATAL: cannot write the state file:", err);
      process.exit(70);
    }
  }

  /** Loads FILE (a log of committed writes), compacts it, and opens it for appending. */
  private loadState(file: string) {
    const t0 = Date.now();
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = this.db;
    let records = 0;
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, "utf8");
      const lines = text.split("\n");
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        if (line.trim() === "") continue;
        let rec: any;
        try {
          rec = JSON.parse(line);
        } catch (err) {
          const isLast = lines.slice(i + 1).every((l) => l.trim() === "");
          if (isLast) {
            log(`state: ignoring a torn last record in ${file} (crash during a write)`);
            break;
          }
          throw new Error(`state file ${file} is corrupt at line ${i + 1}: ${err}`);
        }
        for (const [id, doc] of rec.w as [string, any][]) {
          if (doc === null) delete db._documents[id];
          else db._documents[id] = jsonToConvex(doc);
        }
        if (typeof rec.n === "number" && rec.n > db._nextDocId) db._nextDocId = rec.n;
        if (typeof rec.c === "number" && rec.c > db._lastCreationTime) db._lastCreationTime = rec.c;
        if (rec.ts !== undefined) {
          const ts = BigInt(rec.ts);
          if (ts > this.tm._lastCommitTs) this.tm._lastCommitTs = ts;
          if (ts > this.ts) this.ts = ts;
        }
        records++;
      }
    }
    this.reindex(Object.keys(db._documents));
    this.compact(file);
    this.stateFd = fs.openSync(file, "a");
    log(
      `state: ${file}: replayed ${records} records, ${Object.keys(db._documents).length} documents, ` +
        `${Date.now() - t0} ms`,
    );
  }

  /** Rewrites FILE as the current documents only (write a temp file, fsync, rename). */
  private compact(file: string) {
    const db = this.db;
    const tmp = file + ".compact.tmp";
    const fd = fs.openSync(tmp, "w");
    const ids = Object.keys(db._documents);
    const head = { ts: this.tm._lastCommitTs.toString(), n: db._nextDocId, c: db._lastCreationTime };
    if (ids.length === 0) fs.writeSync(fd, JSON.stringify({ ...head, w: [] }) + "\n");
    for (let i = 0; i < ids.length; i += 1000) {
      const w = ids.slice(i, i + 1000).map((id) => [id, convexToJson(db._documents[id])]);
      fs.writeSync(fd, JSON.stringify({ ...head, w }) + "\n");
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    try {
      const dfd = fs.openSync(path.dirname(path.resolve(file)), "r");
      fs.fsyncSync(dfd);
      fs.closeSync(dfd);
    } catch {
      // directory fsync is best effort
    }
  }

  close() {
    if (this.stateFd !== null) {
      try {
        fs.fsyncSync(this.stateFd);
        fs.closeSync(this.stateFd);
      } catch {
        // already closed
      }
      this.stateFd = null;
    }
  }

  // ---------------------------------------------------------------- execution

  /** Runs `fn` after everything queued before it; one task at a time. */
  enqueue<T>(fn: () => Promise<T> | T): Promise<T> {
    const p = this.tail.then(fn);
    this.tail = p.then(
      () => this.afterTask(),
      () => this.afterTask(),
    );
    return p;
  }

  private afterTask() {
    // convex-test keeps every query cursor's (drained) results; drop them
    // between top-level executions so a long-running stand-in does not grow.
    if (this.tm._waitOnCurrentFunction === null) this.db._queryResults = {};
  }

  /** Resolves once everything queued so far has run. */
  drain(): Promise<void> {
    return this.tail.then(() => undefined);
  }

  async resolve(udfPath: string): Promise<ResolvedFunction | null> {
    const canonical = canonicalUdfPath(udfPath);
    if (this.resolved.has(canonical)) return this.resolved.get(canonical)!;
    const [mod, name] = canonical.split(":");
    let result: ResolvedFunction | null = null;
    const loader = mod.includes("_generated") ? undefined : this.loaders.get(mod);
    if (loader) {
      const m = await loader();
      const f = m?.[name];
      if (f && (typeof f === "function" || typeof f === "object") && !f.isHttp) {
        const kind: FunctionKind | null = f.isQuery ? "query" : f.isMutation ? "mutation" : f.isAction ? "action" : null;
        if (kind !== null) result = { canonical, kind, isInternal: f.isInternal === true || f.isPublic !== true };
      }
    }
    this.resolved.set(canonical, result);
    return result;
  }

  private accessor(caller: Caller): any {
    if (caller.kind !== "user") return this.t;
    let a = this.userAccessors.get(caller.token);
    if (!a) {
      a = this.t.withIdentity(caller.claims);
      if (this.userAccessors.size > 1000) this.userAccessors.clear();
      this.userAccessors.set(caller.token, a);
    }
    return a;
  }

  /**
   * Runs one function call (not queued: callers go through `enqueue`).
   * `args` is the Convex JSON of the argument object.
   */
  async run(kind: FunctionKind, udfPath: string, args: unknown, caller: Caller): Promise<RunResult> {
    // The order of the backend's checks (crates/udf/src/validation.rs,
    // `ValidatedPathAndArgs::new_with_returns_validator`): the deployment's
    // state first, then the path, then visibility and the caller's rights,
    // then the kind of function.
    if (this.deployment === "paused") return { ok: false, message: PAUSED_ERROR_MESSAGE, ts: this.ts };
    if (this.deployment === "over_limits") {
      return { ok: false, message: DISABLED_ERROR_MESSAGE_FREE_PLAN, ts: this.ts };
    }
    const f = this.deployment === "functions_missing" ? null : await this.resolve(udfPath);
    if (f === null || (f.isInternal && caller.kind !== "admin")) {
      const shown = displayUdfPath(udfPath);
      if (this.udf404OnBadPath) {
        const system = notFoundError(shown);
        return { ok: false, message: system.message, system, ts: this.ts };
      }
      return { ok: false, message: notFoundMessage(shown), ts: this.ts };
    }
    if (f.isInternal && this.deployment === "forbidden_internal") {
      const system = forbiddenInternalError(kind);
      return { ok: false, message: system.message, system, ts: this.ts };
    }
    if (f.kind !== kind) {
      const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
      const message = `Trying to execute ${f.canonical} as ${cap(kind)}, but it is defined as ${cap(f.kind)}.`;
      if (this.udf404OnBadPath) {
        const system = wrongTypeError(message);
        return { ok: false, message, system, ts: this.ts };
      }
      return { ok: false, message, ts: this.ts };
    }
    if (kind === "mutation" && this.contentionFailures > 0) {
      // Test-only (README, "Fault injection"): what real Convex answers when
      // concurrent mutations kept writing the same documents and its own
      // retries ran out (crates/database: OCC, "on every subsequent retry").
      // Nothing runs; the next call does.
      this.contentionFailures -= 1;
      const message =
        'Documents read from or written to the "productionSessions" table changed while this mutation was being run ' +
        'and on every subsequent retry. Another call to this mutation changed the document with ID "standin-contention".';
      log(`${kind} ${f.canonical} failed (injected write conflict): ${message}`);
      return { ok: false, message, ts: this.ts };
    }
    const fault = injectedFault(this.faultThrowOn, kind, args);
    if (fault !== null) {
      log(`${kind} ${f.canonical} failed: ${fault}`);
      return { ok: false, message: fault, ts: this.ts };
    }
    let decoded: unknown;
    try {
      decoded = jsonToConvex((args ?? {}) as any);
    } catch (err) {
      return { ok: false, message: `Invalid arguments for ${f.canonical}: ${(err as Error).message}`, ts: this.ts };
    }
    const ref = makeFunctionReference(f.canonical) as any;
    const acc = this.accessor(caller);
    try {
      const value =
        kind === "query"
          ? await acc.query(ref, decoded)
          : kind === "mutation"
            ? await acc.mutation(ref, decoded)
            : await acc.action(ref, decoded);
      let json = value === undefined ? null : convexToJson(value as any);
      if (this.deployment === "incompatible" && f.canonical === "contract:handshake") {
        // Test-only substitution: a deployment running the functions of
        // another contract version (README, Fault injection).
        const v = json as { contractVersion?: unknown } | null;
        if (v !== null && typeof v === "object" && typeof v.contractVersion === "number") {
          json = { ...v, contractVersion: v.contractVersion + INCOMPATIBLE_CONTRACT_OFFSET } as any;
        }
      }
      return { ok: true, value: json, ts: this.ts };
    } catch (err) {
      const d = describeError(err);
      if (kind !== "query") {
        const stack = (err as any)?.stack;
        log(`${kind} ${f.canonical} failed: ${d.message}` + (typeof stack === "string" && stack.includes("\n    at ") ? `\n${stack}` : ""));
      }
      return { ...d, ts: this.ts };
    }
  }

  /**
   * The latest timestamp this deployment knows: every ts it ever handed out
   * (commit timestamps, Transition versions) is at or below it.
   */
  latestTimestamp(): bigint {
    return this.ts;
  }
}

/**
 * Fault injection (tests only): the message of the Error a mutation throws
 * when one of its `events` has `label` or `text` equal to `needle`, or null.
 */
function injectedFault(needle: string | undefined, kind: FunctionKind, args: unknown): string | null {
  if (needle === undefined || kind !== "mutation") return null;
  const events = (args as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return null;
  const hit = events.some(
    (e) => typeof e === "object" && e !== null && ((e as any).label === needle || (e as any).text === needle),
  );
  return hit ? `Uncaught Error: injected fault: an event carries ${JSON.stringify(needle)}` : null;
}

function describeError(err: unknown): { ok: false; message: string; errorData?: unknown } {
  if (typeof err === "object" && err !== null) {
    const e = err as any;
    const isConvexError = Symbol.for("ConvexError") in e || e.name === "ConvexError";
    if (isConvexError) {
      let data: unknown = null;
      try {
        data = e.data === undefined ? null : convexToJson(e.data);
      } catch {
        data = String(e.data);
      }
      return { ok: false, message: `Uncaught ConvexError: ${e.message}`, errorData: data };
    }
    const name = typeof e.name === "string" && e.name !== "" ? e.name : "Error";
    const message = realLimitMessage(typeof e.message === "string" ? e.message : String(err));
    return { ok: false, message: `Uncaught ${name}: ${message}` };
  }
  return { ok: false, message: `Uncaught ${String(err)}` };
}
