export type Check<T> = () => Promise<T | undefined | false> | T | undefined | false;

/** Polls `check` every 25 ms until it gives a value; after `ms`, fails with `context()` (e.g. the controller's log). */
export async function pollUntil<T>(check: Check<T>, ms: number, context: () => string): Promise<T> {
  const startAt = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - startAt > ms) throw new Error(`not within ${ms} ms; log:\n${context()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
