// What applying one event comes to, before its receipt is written: applied
// (the rows it wrote, and what it may have brought that other events wait
// for), waiting (what for, and the code it gets if that never comes) or
// rejected (a code of the contract and a message). A rejection is a returned
// value, never an exception.
import type { RejectionCode, WaitingKind, WireEvent } from "./wire";

/** The wire event of one type, e.g. `EventOf<"cut">`. */
export type EventOf<T extends WireEvent["type"]> = Extract<
  WireEvent,
  { type: T }
>;

export type Applied = {
  verdict: "applied";
  ledgerIds: Record<string, string>;
  /** `waitsFor` keys (waiting.ts) of what this event brought. */
  wakes?: string[];
};
export type Waiting = {
  verdict: "waiting";
  kind: WaitingKind;
  key: string;
  code: RejectionCode;
  message: string;
};
export type Rejected = {
  verdict: "rejected";
  code: RejectionCode;
  message: string;
};
export type Outcome = Applied | Waiting | Rejected;
/** A lookup's "no": the rejection, or what to wait for. */
export type Refusal = Waiting | Rejected;

export function reject(code: RejectionCode, message: string): Rejected {
  return { verdict: "rejected", code, message };
}

export function wait(
  kind: WaitingKind,
  key: string,
  code: RejectionCode,
  message: string,
): Waiting {
  return { verdict: "waiting", kind, key, code, message };
}

/** For lookups that return a row, or the rejection or the wait. */
export function isRefusal<T>(x: T | Refusal): x is Refusal {
  if (typeof x !== "object" || x === null) return false;
  const v = (x as { verdict?: unknown }).verdict;
  return v === "rejected" || v === "waiting";
}
