// Optional fields, written only when present.

/** `T` without its undefined values: each key optional, its value defined. */
export type Defined<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

/**
 * A copy of `fields` without the keys whose value is undefined, in the same
 * order. `{ ...defined({ a, b }) }` is `{ ...(a !== undefined ? { a } : {}),
 * ...(b !== undefined ? { b } : {}) }`. In a `ctx.db.patch` this matters: an
 * undefined value there would remove the field, an absent one leaves it as is.
 */
export function defined<T extends object>(fields: T): Defined<T> {
  const out: Record<string, unknown> = {};
  for (const [key, x] of Object.entries(fields)) {
    if (x !== undefined) out[key] = x;
  }
  return out as Defined<T>;
}
