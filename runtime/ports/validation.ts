/** The result of checking untrusted input: the value, or one line saying what is wrong. */
export type Validation<T> = { ok: true; value: T } | { ok: false; error: string };
