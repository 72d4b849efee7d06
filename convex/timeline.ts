// The timeline key: the order in which the service accepted events
// (migrations-notes/0003-order-independence.md, "Timeline order").
//
//   timeline = pad15(receivedAt) "." instance "." pad12(seq)
//
// `receivedAt` is stamped by the instance that journaled the event,
// `instance` is that journal's stable id and `seq` its position in it. The key
// is a string so that an index sorts it as it reads. Computed here only.
import type { WireEvent } from "./wire";

export const INSTANCE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function pad(n: number, width: number): string {
  return Math.trunc(n).toString().padStart(width, "0");
}

export function timelineKey(event: WireEvent): string {
  return `${pad(event.receivedAt, 15)}.${event.instance}.${pad(event.seq, 12)}`;
}

/** The instance and journal position a timeline key was made of. */
export function parseTimeline(t: string): { instance: string; seq: number } {
  const first = t.indexOf(".");
  const last = t.lastIndexOf(".");
  return { instance: t.slice(first + 1, last), seq: Number(t.slice(last + 1)) };
}
