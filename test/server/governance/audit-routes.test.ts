import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';
import { compactVerify, createRemoteJWKSet, decodeProtectedHeader } from 'jose';
import type { ChainRecord as AuditRecord } from '../../../server/audit/chain.ts';

/**
 * The audit log as an auditor and a SIEM read it: `GET /admin/v1/audit` (filters, newest
 * first, cursor pages), `GET /admin/v1/audit/export` (NDJSON, OCSF 1.1, follow mode for a
 * log shipper). The records are made by real sign-ins and admin calls at known times.
 */

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const secrets: Record<string, string> = {};
const T1 = Date.parse('2026-11-23T10:00:00Z');
const T2 = Date.parse('2026-11-23T11:00:00Z');
const T3 = Date.parse('2026-11-23T12:00:00Z');
let invited: string;

const clientId = (name: string) => `${name}.${NS}`;
const base = `/admin/v1/namespaces/${NS}`;

async function audit(query: string): Promise<{ items: AuditRecord[]; next: number | null }> {
  const res = await gh.admin('GET', `/admin/v1/audit${query}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Every record, newest first, read in one page (the log here is far below 1000). */
async function everything(): Promise<AuditRecord[]> {
  const { items, next } = await audit('?limit=1000');
  expect(next).toBeNull();
  return items;
}

async function exportText(query: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${gh.url}/admin/v1/audit/export${query}`, { headers: { authorization: `Bearer ${gh.token}` } });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

const ndjson = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('cascade'));
  await gh.put('organizations', organization('cascade-east', { parentRef: { name: 'cascade' }, emailDomains: ['east.cascade.example'] }));
  await gh.put('organizations', organization('forge'));
  for (const org of ['cascade', 'cascade-east', 'forge']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('clients', client('cascade-web', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('clients', client('east-web', 'cascade-east', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  await gh.put('users', user('eve', 'cascade-east', { email: 'eve@east.cascade.example' }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example' }));
  for (const name of ['cascade-web', 'east-web', 'forge-web']) secrets[name] = (await gh.admin('POST', `${base}/clients/${name}/secret`)).body.clientSecret;
  for (const name of ['ana', 'eve', 'fred']) await setPassword(gh, name, PASSWORD);

  gh.clock.set(T1);
  await signIn(gh, 'cascade', 'cascade-web', secrets['cascade-web']!, { email: 'ana@cascade.example', password: PASSWORD });
  gh.clock.set(T2);
  await signIn(gh, 'cascade-east', 'east-web', secrets['east-web']!, { email: 'eve@east.cascade.example', password: PASSWORD });
  await signIn(gh, 'forge', 'forge-web', secrets['forge-web']!, { email: 'fred@forge.example', password: PASSWORD });
  gh.clock.set(T3);
  const invitation = await gh.admin('POST', `${base}/organizations/cascade/users`, { email: 'temp@cascade.example', displayName: 'Temp' });
  expect(invitation.status).toBe(201);
  invited = invitation.body.user.id;
  expect((await gh.admin('POST', `${base}/organizations/cascade/users/${invited}/deactivate`)).status).toBe(200);
}, 60_000);
afterAll(async () => {
  await gh.close();
});

describe('GET /admin/v1/audit filters', () => {
  it('lists every record newest first, with strictly decreasing sequence numbers', async () => {
    const all = await everything();
    expect(all.length).toBeGreaterThan(20);
    for (let i = 1; i < all.length; i++) expect(all[i]!.seq).toBe(all[i - 1]!.seq - 1);
    expect(all[all.length - 1]!.seq).toBe(1);
  });

  it('organization= includes its sub-organizations, and only those', async () => {
    const all = await everything();
    const { items } = await audit('?organization=cascade&limit=1000');
    expect(new Set(items.map((r) => r.organization))).toEqual(new Set(['cascade', 'cascade-east']));
    expect(items).toEqual(all.filter((r) => r.organization === 'cascade' || r.organization === 'cascade-east'));
    // Eve signed in at the sub-organization: her sign-in is part of Cascade's log.
    expect(items.some((r) => r.action === 'login.succeeded' && r.subject === 'eve')).toBe(true);
    expect(items.some((r) => r.subject === 'fred')).toBe(false);
  });

  it('subOrganizations=false narrows to the organization itself; a leaf organization is itself', async () => {
    const all = await everything();
    expect((await audit('?organization=cascade&subOrganizations=false&limit=1000')).items).toEqual(all.filter((r) => r.organization === 'cascade'));
    expect((await audit('?organization=cascade-east&limit=1000')).items).toEqual(all.filter((r) => r.organization === 'cascade-east'));
  });

  it('actor= is who acted: a user signing in, or the admin token calling the API', async () => {
    const all = await everything();
    const ana = await audit('?actor=ana&limit=1000');
    // Ana set her own password through the link, then signed in and got tokens.
    expect(ana.items.map((r) => r.action)).toEqual(['token.issued', 'login.succeeded', 'user.password-set']);
    expect(ana.items.every((r) => r.actor === 'ana')).toBe(true);
    const adminActor = all.find((r) => r.action === 'user.deactivated')!.actor;
    expect((await audit(`?actor=${encodeURIComponent(adminActor)}&limit=1000`)).items).toEqual(all.filter((r) => r.actor === adminActor));
  });

  it("client= is the application: Forge's sign-in, token and secret rotation, nothing of Cascade", async () => {
    const { items } = await audit(`?client=${clientId('forge-web')}`);
    expect(items.map((r) => [r.action, r.subject])).toEqual([
      ['token.issued', 'fred'],
      ['login.succeeded', 'fred'],
      ['Client.secret-rotated', null],
    ]);
  });

  it('action= matches one action exactly, or a family with a trailing *', async () => {
    const logins = await audit('?action=login.succeeded');
    expect(logins.items.map((r) => r.subject)).toEqual(['fred', 'eve', 'ana']);
    const all = await everything();
    const tokens = await audit('?action=token.*&limit=1000');
    expect(tokens.items).toEqual(all.filter((r) => r.action.startsWith('token.')));
    expect(tokens.items.length).toBe(3);
    expect((await audit('?action=token')).items).toEqual([]);
  });

  it('since= (inclusive) and until= (exclusive) bound the time, as RFC 3339 or epoch milliseconds', async () => {
    const all = await everything();
    const expected = all.filter((r) => r.at >= T2 && r.at < T3);
    const iso = await audit(`?since=${encodeURIComponent(new Date(T2).toISOString())}&until=${encodeURIComponent('2026-11-23T13:00:00+01:00')}&limit=1000`);
    expect(iso.items).toEqual(expected);
    expect(iso.items.filter((r) => r.action === 'login.succeeded').map((r) => r.subject)).toEqual(['fred', 'eve']);
    expect((await audit(`?since=${T2}&until=${T3}&limit=1000`)).items).toEqual(expected);
    expect((await audit(`?since=${T3}&limit=1000`)).items.map((r) => r.action)).toEqual(['user.deactivated', 'user.password-link-created', 'user.invited']);
  });

  it("filters combine: Cascade's (with its sub-organization) sign-ins before noon", async () => {
    const { items } = await audit(`?organization=cascade&action=login.succeeded&until=${T3}`);
    expect(items.map((r) => r.subject)).toEqual(['eve', 'ana']);
  });
});

describe('GET /admin/v1/audit pages', () => {
  async function walk(query: string, limit: number): Promise<AuditRecord[]> {
    const seen: AuditRecord[] = [];
    let cursor: number | null = null;
    for (let page = 0; page < 100; page++) {
      const res: { items: AuditRecord[]; next: number | null } = await audit(`?${query}${query ? '&' : ''}limit=${limit}${cursor !== null ? `&before=${cursor}` : ''}`);
      expect(res.items.length).toBeLessThanOrEqual(limit);
      seen.push(...res.items);
      if (res.next === null) return seen;
      expect(res.next).toBe(res.items[res.items.length - 1]!.seq);
      cursor = res.next;
    }
    throw new Error('the cursor never ended');
  }

  it('the cursor walks the whole log newest first with no duplicate and no gap', async () => {
    const all = await everything();
    const paged = await walk('', 7);
    expect(paged.map((r) => r.seq)).toEqual(all.map((r) => r.seq));
    expect(new Set(paged.map((r) => r.seq)).size).toBe(paged.length);
  });

  it('pages of a filtered query hold exactly the filtered records', async () => {
    const filtered = (await audit('?organization=cascade&limit=1000')).items;
    expect(filtered.length).toBeGreaterThan(4);
    expect(await walk('organization=cascade', 2)).toEqual(filtered);
  });

  it('a page shorter than the limit says there is no next page', async () => {
    expect(await audit('?action=login.succeeded&limit=5')).toMatchObject({ next: null });
    const first = await audit('?action=login.succeeded&limit=2');
    expect(first.next).toBe(first.items[1]!.seq);
    expect((await audit(`?action=login.succeeded&limit=2&before=${first.next}`)).items.map((r) => r.subject)).toEqual(['ana']);
  });
});

describe('bad audit queries', () => {
  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['since=yesterday', 'since'],
    ['until=2026-13-45', 'until'],
    ['before=-3', 'before'],
    ['organization=Not_A_Name', 'organization'],
    ['subOrganizations=maybe', 'subOrganizations'],
    ['format=csv', 'format'],
    ['colour=blue', 'colour'],
    ['actor=a&actor=b', 'actor'],
  ])('?%s is a 400 problem naming %s', async (query, parameter) => {
    for (const path of ['/admin/v1/audit', '/admin/v1/audit/export']) {
      const res = await gh.admin('GET', `${path}?${query}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.detail).toContain(parameter);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(parameter);
    }
  });

  it('needs an admin token', async () => {
    expect((await fetch(`${gh.url}/admin/v1/audit`)).status).toBe(401);
    expect((await fetch(`${gh.url}/admin/v1/audit/export`)).status).toBe(401);
  });
});

describe('GET /admin/v1/audit/checkpoint', () => {
  const checkpoint = (query: string, headers: Record<string, string> = { authorization: `Bearer ${gh.token}` }) => fetch(`${gh.url}/admin/v1/audit/checkpoint${query}`, { headers });

  it("is a compact JWS over {seq, hash, time, namespace} of the chain head, signed by the key the namespace's JWKS publishes", async () => {
    const res = await checkpoint(`?namespace=${NS}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/jose');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const jws = await res.text();
    const head = (await gh.store.audit.head())!;
    const { payload, protectedHeader } = await compactVerify(jws, createRemoteJWKSet(new URL(`${gh.url}/${NS}/cascade/jwks`)));
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'gatehouse-audit-checkpoint+jws' });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ seq: head.seq, hash: head.hash, time: new Date(gh.clock.now()).toISOString(), namespace: NS });
    expect(head.seq).toBeGreaterThan(10);
  });

  it("names the namespace's current signing key", async () => {
    const jwks = (await (await fetch(`${gh.url}/${NS}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(await (await checkpoint(`?namespace=${NS}`)).text()).kid);
  });

  it.each([
    ['', 'namespace'],
    ['namespace=Not_A_Name', 'namespace'],
    [`namespace=${NS}&seq=3`, 'seq'],
  ])('?%s is a 400 problem naming %s', async (query, parameter) => {
    const res = await checkpoint(`?${query}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toContain(parameter);
  });

  it('is a 404 for a namespace that declares nothing, and makes it no signing key', async () => {
    const res = await checkpoint('?namespace=nobody-here');
    expect(res.status).toBe(404);
    expect(await gh.store.keys.list('nobody-here')).toEqual([]);
  });

  it('needs an admin token', async () => {
    expect((await checkpoint(`?namespace=${NS}`, {})).status).toBe(401);
  });
});

describe('GET /admin/v1/audit/export', () => {
  it('NDJSON: one parseable record per line, oldest first, the whole chain', async () => {
    const all = await everything();
    const res = await exportText('');
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/x-ndjson');
    expect(res.text.endsWith('\n')).toBe(true);
    const lines = res.text.split('\n').slice(0, -1);
    expect(lines.every((l) => l.startsWith('{') && l.endsWith('}'))).toBe(true);
    expect(lines.map((l) => JSON.parse(l))).toEqual([...all].reverse());
  });

  it('NDJSON takes the same filters, and after= resumes past a sequence number', async () => {
    const all = await everything();
    expect(ndjson((await exportText('?organization=cascade')).text)).toEqual(all.filter((r) => r.organization === 'cascade' || r.organization === 'cascade-east').reverse());
    const cut = all[5]!.seq;
    expect(ndjson((await exportText(`?after=${cut}`)).text)).toEqual(all.filter((r) => r.seq > cut).reverse());
  });

  it('never carries a client secret or the admin token', async () => {
    const text = (await exportText('')).text;
    for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
    expect(text).not.toContain(gh.token);
    expect(text).not.toContain(PASSWORD);
  });

  describe('OCSF 1.1', () => {
    let events: Record<string, any>[];
    let all: AuditRecord[];
    beforeAll(async () => {
      all = await everything();
      const res = await exportText('?format=ocsf');
      expect(res.status).toBe(200);
      expect(res.type).toMatch(/^application\/x-ndjson/);
      events = ndjson(res.text);
    });
    const eventOf = (action: string, subject?: string) => {
      const found = events.find((e) => e.unmapped.action === action && (subject === undefined || e.user.uid === subject));
      if (!found) throw new Error(`no OCSF event for ${action} ${subject ?? ''}`);
      return found;
    };

    it('every event is in the Identity & Access Management category, with type_uid = class_uid * 100 + activity_id', () => {
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) {
        expect(e.category_uid).toBe(3);
        expect([3001, 3002]).toContain(e.class_uid);
        expect(e.type_uid).toBe(e.class_uid * 100 + e.activity_id);
        expect(typeof e.time).toBe('number');
        expect(e.metadata).toMatchObject({ version: '1.1.0', product: { name: 'Gatehouse', vendor_name: 'Gatehouse' } });
        expect([1, 2]).toContain(e.status_id);
        expect(e.severity_id).toBeGreaterThanOrEqual(1);
      }
    });

    it('leaves out records with no OCSF class (configuration changes), keeps the order', () => {
      expect(events.some((e) => e.unmapped.action === 'Organization.created')).toBe(false);
      const mapped = [...all].reverse().filter((r) => r.action.startsWith('login.') || r.action.startsWith('token.') || r.action.startsWith('user.') || r.action.startsWith('User.'));
      expect(events.map((e) => e.metadata.sequence)).toEqual(mapped.map((r) => r.seq));
    });

    it('a sign-in is Authentication (3002) Logon (1): type_uid 300201, success, the user and the application', () => {
      const login = all.find((r) => r.action === 'login.succeeded' && r.subject === 'ana')!;
      const e = eventOf('login.succeeded', 'ana');
      expect(e).toMatchObject({
        class_uid: 3002,
        class_name: 'Authentication',
        activity_id: 1,
        activity_name: 'Logon',
        type_uid: 300201,
        time: T1,
        status_id: 1,
        status: 'Success',
        severity_id: 1,
        auth_protocol_id: 4,
        user: { uid: 'ana', type_id: 1 },
        actor: { user: { uid: 'ana' } },
        service: { uid: clientId('cascade-web') },
        metadata: { uid: `${login.seq}`, sequence: login.seq },
      });
    });

    it('a token issued is Authentication with the OAuth 2.0 protocol', () => {
      const e = eventOf('token.issued', 'fred');
      expect(e).toMatchObject({ class_uid: 3002, auth_protocol_id: 6, time: T2, status_id: 1, service: { uid: clientId('forge-web') } });
      expect(e.type_uid).toBe(300200 + e.activity_id);
    });

    it('creating a user is Account Change (3001) Create (1), type_uid 300101: an invitation and a declared User alike', () => {
      const invitation = eventOf('user.invited', invited);
      expect(invitation).toMatchObject({ class_uid: 3001, class_name: 'Account Change', activity_id: 1, activity_name: 'Create', type_uid: 300101, time: T3, status_id: 1 });
      expect(eventOf('User.created', 'eve')).toMatchObject({ class_uid: 3001, activity_id: 1, type_uid: 300101, user: { uid: 'eve' } });
    });

    it('deactivating a user is Account Change Disable (5), type_uid 300105, acted by the admin', () => {
      const record = all.find((r) => r.action === 'user.deactivated')!;
      expect(eventOf('user.deactivated', invited)).toMatchObject({ class_uid: 3001, activity_id: 5, activity_name: 'Disable', type_uid: 300105, time: T3, actor: { user: { uid: record.actor } } });
    });
  });
});

describe('GET /admin/v1/audit/export?follow=true (for a log shipper)', () => {
  it('streams what exists, then each record as it is appended, until the client disconnects', async () => {
    const controller = new AbortController();
    const res = await fetch(`${gh.url}/admin/v1/audit/export?follow=true&action=Organization.*`, { headers: { authorization: `Bearer ${gh.token}` }, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const received: Record<string, any>[] = [];
    async function until(predicate: () => boolean, ms: number): Promise<void> {
      const deadline = Date.now() + ms;
      while (!predicate()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out; received ${JSON.stringify(received.map((r) => [r.seq, r.action, r.name]))}`);
        // The timer is cleared once the race is decided: a pending one would keep the jest worker alive for up to 5 s after the suite.
        let timer: NodeJS.Timeout | undefined;
        const chunk = await Promise.race([reader.read(), new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left)))]).finally(() => clearTimeout(timer));
        if (chunk === 'timeout') continue;
        if (chunk.done) throw new Error(`the stream ended; received ${JSON.stringify(received.map((r) => [r.seq, r.action, r.name]))}`);
        buffered += decoder.decode(chunk.value, { stream: true });
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const l of lines) if (l) received.push(JSON.parse(l));
      }
    }
    try {
      await until(() => received.length >= 3, 5000);
      expect(received.map((r) => r.name)).toEqual(['cascade', 'cascade-east', 'forge']);
      // Appended after the stream opened, and after its first idle poll.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await gh.put('organizations', organization('pinnacle'));
      await until(() => received.length >= 4, 5000);
      expect(received[3]).toMatchObject({ action: 'Organization.created', name: 'pinnacle' });
      // A record that does not match the filter is not streamed; the next one that does is.
      await gh.put('clients', client('pinnacle-web', 'pinnacle'));
      await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics' }));
      await until(() => received.length >= 5, 5000);
      expect(received[4]).toMatchObject({ action: 'Organization.updated', name: 'pinnacle' });
      expect(received.map((r) => r.seq)).toEqual([...received.map((r) => r.seq)].sort((a, b) => a - b));
    } finally {
      controller.abort();
      await reader.cancel().catch(() => undefined);
    }
  }, 20_000);

  it('answers at once when nothing matches yet, and a disconnect is not logged as an error', async () => {
    const controller = new AbortController();
    const logged: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const started = Date.now();
      const res = await fetch(`${gh.url}/admin/v1/audit/export?follow=true&organization=nobody-yet`, { headers: { authorization: `Bearer ${gh.token}` }, signal: controller.signal });
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1000);
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(logged).toEqual([]);
    } finally {
      console.error = original;
    }
  }, 10_000);

  it('without follow, the export ends at the last record', async () => {
    const res = await exportText('?follow=false&action=Organization.*');
    expect(ndjson(res.text).map((r) => r.name)).toEqual(['cascade', 'cascade-east', 'forge', 'pinnacle', 'pinnacle']);
  });
});
