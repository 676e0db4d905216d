/** Time is injected so tests can move it; the server never reads Date.now() directly. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function fixedClock(start: number | string | Date): Clock & { advance(ms: number): void; set(t: number | string | Date): void } {
  let t = new Date(start).getTime();
  return {
    now: () => t,
    advance: (ms) => void (t += ms),
    set: (v) => void (t = new Date(v).getTime()),
  };
}
