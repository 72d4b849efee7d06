// What applying one event comes to, before its receipt is written: applied
// (the rows it wrote and, for director events, its sequence number) or
// rejected (a code of the contract and a message). A rejection is a returned
// value, never an exception.
import type { RejectionCode, WireEvent } from "./wire";

/** The wire event of one type, e.g. `EventOf<"cut">`. */
export type EventOf<T extends WireEvent["type"]> = Extract<
  WireEvent,
  { type: T }
>;

export type Applied = {
  verdict: "applied";
  sequence?: number;
  ledgerIds: Record<string, string>;
};
export type Rejected = {
  verdict: "rejected";
  code: RejectionCode;
  message: string;
};
export type Outcome = Applied | Rejected;

export function reject(code: RejectionCode, message: string): Rejected {
  return { verdict: "rejected", code, message };
}

/** For lookups that return a row or the rejection. */
export function isRejected<T>(x: T | Rejected): x is Rejected {
  return (
    typeof x === "object" &&
    x !== null &&
    (x as { verdict?: unknown }).verdict === "rejected"
  );
}
