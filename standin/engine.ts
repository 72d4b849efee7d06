// The execution engine of the local Convex stand-in.
//
// It runs the project's real Convex functions with `convex-test` and adds what
// a test library does not have but a long-running local backend needs:
//   - function visibility (internal functions only for admin callers),
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

export type FunctionKind = "query" | "mutation" | "action";

/** Who is calling: the admin (deploy key), an (unverified) user, or nobody. */
export type Caller =
  | { kind: "admin" }
  | { kind: "user"; token: string; claims: Record<string, unknown> }
  | { kind: "none" };

export type RunResult =
  | { ok: true; value: unknown /* Convex JSON */; ts: bigint }
  | { ok: false; message: string; errorData?: unknown /* Convex JSON */; ts: bigint };

type ModuleMap = Record<string, () => Promise<any>>;

interface ResolvedFunction {
  canonical: string; // "dir/module:export"
  kind: FunctionKind;
  isInternal: boolean;
}

const log = (...a: unknown[]) => console.error(`[standin ${new Date().toISOString()}]`, ...a);

export function notFoundMessage(udfPath: string): string {
  return (
    `Could not find public function for '${udfPath}'. ` +
    "Did you forget to run `npx convex dev` or `npx convex deploy`?"
  );
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
}

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
  /** Highest timestamp handed out (commit ts or observed), ns since epoch. */
  public ts: bigint;
  /** Called after every top-level commit, inside the execution queue. */
  public onCommit: ((ts: bigint) => void) | null = null;
  public stats = { commits: 0, records: 0 };

  // Indexes over committed documents.
  private tableIds = new Map<string, Set<string>>();
  private fieldIndexes = new Map<string, FieldIndex>(); // "table\u0000field"
  private levelTables = new WeakMap<object, Map<string, Set<string>>>();
  private narrow: { table: string; field: string; key: string } | null = null;

  private constructor(opts: EngineOptions) {
    // convex-test calls a module's loader on every function call; under tsx
    // each dynamic import() is a round trip to the loader-hooks thread
    // (~1-2 ms of latency per call). Load each module once.
    this.modules = Object.fromEntries(
      Object.entries(opts.modules).map(([k, load]) => {
        let loaded: Promise<any> | null = null;
        return [k, () => (loaded ??= load())];
      }),
    );
    this.statePath = opts.statePath;
    const keys = Object.keys(this.modules);
    const gen = keys.find((k) => k.includes("_generated"));
    if (gen === undefined) {
      throw new Error('the module map has no "_generated" entry (convex-test needs one)');
    }
    this.moduleRoot = gen.split("_generated", 2)[0];
    for (const [k, loader] of Object.entries(this.modules)) {
      if (!k.startsWith(this.moduleRoot)) continue;
      this.loaders.set(k.slice(this.moduleRoot.length).replace(/\.[^./]+$/, ""), loader);
    }
    this.t = convexTest(opts.schema as any, this.modules as any);
    this.ts = BigInt(Date.now()) * 1_000_000n;
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
    const f = await this.resolve(udfPath);
    if (f === null || (f.isInternal && caller.kind !== "admin")) {
      return { ok: false, message: notFoundMessage(udfPath), ts: this.ts };
    }
    if (f.kind !== kind) {
      const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
      return {
        ok: false,
        message: `Trying to execute ${f.canonical} as ${cap(kind)}, but it is defined as ${cap(f.kind)}.`,
        ts: this.ts,
      };
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
      return { ok: true, value: value === undefined ? null : convexToJson(value as any), ts: this.ts };
    } catch (err) {
      const d = describeError(err);
      if (kind !== "query") {
        const stack = (err as any)?.stack;
        log(`${kind} ${f.canonical} failed: ${d.message}` + (typeof stack === "string" && stack.includes("\n    at ") ? `\n${stack}` : ""));
      }
      return { ...d, ts: this.ts };
    }
  }

  /** Raises the clock to at least `ts` (a client's maxObservedTimestamp). */
  observe(ts: bigint) {
    if (ts > this.ts) this.ts = ts;
    if (ts > this.tm._lastCommitTs) this.tm._lastCommitTs = ts;
  }
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
    const message = typeof e.message === "string" ? e.message : String(err);
    return { ok: false, message: `Uncaught ${name}: ${message}` };
  }
  return { ok: false, message: `Uncaught ${String(err)}` };
}
