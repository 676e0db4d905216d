import { createServer } from 'node:net';
import { z } from 'zod';

/** Where each piece of the demo listens. 0 lets the system pick a free port. */
export interface DemoPorts {
  gatehouse: number;
  forge: number;
  pinnacle: number;
  app: number;
}

/** The ports the example manifests (examples/blixit-partners) name for the demo's loopback peers. */
export const DEFAULT_PORTS: DemoPorts = { gatehouse: 7000, forge: 7001, pinnacle: 7002, app: 3000 };

const PortBase = z.coerce
  .number()
  .int()
  .refine((n) => n === 0 || (n >= 1024 && n <= 65532), { error: 'expected 0 (any free ports) or a port from 1024 to 65532' });

/**
 * `DEMO_PORT_BASE`: unset → the documented ports (7000–7002 and 3000); `N` → Gatehouse on N,
 * Forge's IdP on N+1, Pinnacle's on N+2, the partner portal on N+3; `0` → any free ports
 * (what a test wants: nothing to clash with).
 */
export function demoPorts(env: NodeJS.ProcessEnv): DemoPorts {
  const raw = env.DEMO_PORT_BASE;
  if (raw === undefined || raw === '') return DEFAULT_PORTS;
  const parsed = PortBase.safeParse(raw);
  if (!parsed.success) throw new Error(`DEMO_PORT_BASE="${raw}": ${parsed.error.issues[0]!.message}`);
  const base = parsed.data;
  if (base === 0) return { gatehouse: 0, forge: 0, pinnacle: 0, app: 0 };
  return { gatehouse: base, forge: base + 1, pinnacle: base + 2, app: base + 3 };
}

const origin = (port: number) => `http://127.0.0.1:${port}`;

/**
 * The example manifests name the demo's peers by their default loopback origins; when the
 * demo runs elsewhere, the same declarations point at where the peers really listen.
 */
export function relocate<T>(value: T, moved: Map<string, string>): T {
  const pattern = /^http:\/\/127\.0\.0\.1:\d+(?=\/|$)/;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(pattern, (o) => moved.get(o) ?? o);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** From each default origin to the one actually listening. */
export function movedOrigins(actual: { forge: string; pinnacle: string; app: string }): Map<string, string> {
  return new Map([
    [origin(DEFAULT_PORTS.forge), actual.forge],
    [origin(DEFAULT_PORTS.pinnacle), actual.pinnacle],
    [origin(DEFAULT_PORTS.app), actual.app],
  ]);
}

/** Whether something already listens on 127.0.0.1:`port` (the demo binds there). */
export function portBusy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE' || error.code === 'EACCES'));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

const portsOf = (p: DemoPorts) => [p.gatehouse, p.forge, p.pinnacle, p.app].filter((n) => n !== 0);

/**
 * Before anything starts: when a port the demo wants is taken, the line to print instead of a
 * stack trace, naming the ports in use and a `DEMO_PORT_BASE` whose four ports are free now.
 */
export async function busyPortAdvice(ports: DemoPorts, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const busy: number[] = [];
  for (const port of portsOf(ports)) if (await portBusy(port)) busy.push(port);
  if (busy.length === 0) return undefined;
  let suggestion: number | undefined;
  for (let base = 17000; base <= 65000 && suggestion === undefined; base += 100) {
    const candidate = demoPorts({ DEMO_PORT_BASE: String(base) });
    let free = true;
    for (const port of portsOf(candidate)) if (await portBusy(port)) free = false;
    if (free) suggestion = base;
  }
  const which = `${busy.length === 1 ? 'Port' : 'Ports'} ${busy.join(', ')} ${busy.length === 1 ? 'is' : 'are'} already in use${env.DEMO_PORT_BASE ? ` (DEMO_PORT_BASE=${env.DEMO_PORT_BASE})` : ''}: another demo may still be running.`;
  const fix = suggestion !== undefined ? `Run it on free ports with:\n\n  DEMO_PORT_BASE=${suggestion} npm run demo\n\n(or DEMO_PORT_BASE=0 for any free ports).` : 'Run it with DEMO_PORT_BASE=0 to use any free ports.';
  return `${which}\n${fix}\n`;
}
