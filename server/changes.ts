import { z } from 'zod';

/** Who made a change and where it came from (a git commit, a Pulumi stack), for the audit log. */
export interface ChangeContext {
  actor: string;
  provenance?: Record<string, string>;
}

/** What a caller may declare as the source of a change: at most 32 named strings. */
export const Provenance = z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/), z.string().max(1024)).refine((p) => Object.keys(p).length <= 32, { error: 'at most 32 entries' });
