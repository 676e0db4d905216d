// Organization.spec.risk down the tree (api/effective.ts): a template presets it, a parent's
// rules and thresholds hold below — a sub-organization may raise a weight, lower a threshold,
// lengthen suspendFor, never loosen them — and the engine's verdict follows the thresholds.
import { describe, expect, it } from '@jest/globals';
import { effectiveSettings, type Declarations, type OrganizationObject, type OrganizationTemplateObject } from '../../../api/index.ts';
import { decide, outsideHours } from '../../../server/risk/engine.ts';
import { distanceKm } from '../../../server/risk/places.ts';
import { organization, template } from '../../support/objects.ts';

function decls(orgs: ReturnType<typeof organization>[], templates: ReturnType<typeof template>[] = []): Declarations {
  return {
    workspace: undefined,
    organizations: new Map(orgs.map((o) => [o.metadata.name, o as unknown as OrganizationObject])),
    templates: new Map(templates.map((t) => [t.metadata.name, t as unknown as OrganizationTemplateObject])),
  };
}

const parentRisk = {
  rules: { newDevice: { weight: 40 }, failedSignIns: { weight: 50, max: 3, window: '15m' }, clientBurst: { weight: 100, factor: 10, window: '1m', minimum: 100 } },
  thresholds: { stepUp: 40, deny: 90, suspendClient: 100 },
  suspendFor: '1h',
};

describe('risk inheritance', () => {
  const parent = organization('cascade', { risk: parentRisk });

  it('passes a parent’s rules, thresholds and suspendFor to a sub-organization that declares none', () => {
    const child = organization('cascade-east', { parentRef: { name: 'cascade' } });
    const risk = effectiveSettings(decls([parent, child]), 'cascade-east')!.risk!;
    expect(risk.rules.newDevice).toEqual({ value: { weight: 40 }, source: 'parent:cascade' });
    expect(risk.thresholds.deny).toEqual({ value: 90, source: 'parent:cascade' });
    expect(risk.suspendFor).toEqual({ value: 3600, source: 'parent:cascade' });
  });

  it("cannot loosen a parent's thresholds, lighten its weights, change its parameters or shorten suspendFor", () => {
    const child = organization('cascade-east', {
      parentRef: { name: 'cascade' },
      risk: { rules: { newDevice: { weight: 0 }, failedSignIns: { weight: 10, max: 100, window: '1m' } }, thresholds: { stepUp: 500, deny: 1000, suspendClient: 1000 }, suspendFor: '1m' },
    });
    const risk = effectiveSettings(decls([parent, child]), 'cascade-east')!.risk!;
    expect(risk.rules.newDevice).toEqual({ value: { weight: 40 }, source: 'parent:cascade' });
    expect(risk.rules.failedSignIns).toEqual({ value: { weight: 50, max: 3, window: '15m' }, source: 'parent:cascade' });
    expect(risk.thresholds).toEqual({ stepUp: { value: 40, source: 'parent:cascade' }, deny: { value: 90, source: 'parent:cascade' }, suspendClient: { value: 100, source: 'parent:cascade' } });
    expect(risk.suspendFor).toEqual({ value: 3600, source: 'parent:cascade' });
  });

  it('lets a sub-organization tighten: a heavier weight, lower thresholds, a longer suspendFor, rules of its own', () => {
    const child = organization('cascade-east', {
      parentRef: { name: 'cascade' },
      risk: { rules: { newDevice: { weight: 70 }, outsideHours: { weight: 30, from: '07:00', to: '19:00', timeZone: 'Europe/Amsterdam', days: ['mon', 'fri'] } }, thresholds: { stepUp: 20, deny: 60 }, suspendFor: '1d' },
    });
    const risk = effectiveSettings(decls([parent, child]), 'cascade-east')!.risk!;
    expect(risk.rules.newDevice).toEqual({ value: { weight: 70 }, source: 'organization' });
    expect(risk.rules.outsideHours?.source).toBe('organization');
    expect(risk.thresholds.stepUp).toEqual({ value: 20, source: 'organization' });
    expect(risk.thresholds.deny).toEqual({ value: 60, source: 'organization' });
    expect(risk.thresholds.suspendClient).toEqual({ value: 100, source: 'parent:cascade' });
    expect(risk.suspendFor).toEqual({ value: 86400, source: 'organization' });
  });

  it('takes risk and countries from an OrganizationTemplate, the organization’s own fields winning', () => {
    const strict = template('strict', { risk: { rules: { unusualLocation: { weight: 40, countries: ['NL'] }, impossibleTravel: { weight: 60, maxSpeedKmh: 800 }, newClientAddress: { weight: 30 } }, thresholds: { stepUp: 40, deny: 100 } }, network: { allowedCountries: ['NL', 'BE'], deniedCountries: ['RU'] } });
    const org = organization('forge', { templateRef: { name: 'strict' }, network: { deniedCountries: ['CN'] } });
    const settings = effectiveSettings(decls([org], [strict]), 'forge')!;
    expect(settings.risk!.rules.impossibleTravel).toEqual({ value: { weight: 60, maxSpeedKmh: 800 }, source: 'template:strict' });
    expect(settings.risk!.thresholds.deny).toEqual({ value: 100, source: 'template:strict' });
    expect(settings.allowedCountries).toEqual({ value: ['NL', 'BE'], source: 'template:strict' });
    expect(settings.deniedCountries).toEqual({ value: ['CN'], source: 'organization' });
  });

  it('has no risk at all where no level declares it', () => {
    expect(effectiveSettings(decls([organization('plain')]), 'plain')!.risk).toBeUndefined();
  });
});

describe('the verdict', () => {
  const risk = effectiveSettings(decls([organization('cascade', { risk: parentRisk })]), 'cascade')!.risk!;

  it.each([
    [0, 'sign-in', 'allow'],
    [39, 'sign-in', 'allow'],
    [40, 'sign-in', 'stepUp'],
    [90, 'sign-in', 'deny'],
    [150, 'sign-in', 'deny'],
    [40, 'grant', 'allow'],
    [90, 'grant', 'deny'],
    [99, 'machine', 'deny'],
    [100, 'machine', 'suspendClient'],
    [100, 'grant', 'deny'],
  ] as const)('a score of %d at %s is %s', (score, stage, action) => {
    expect(decide(risk, score, stage)).toBe(action);
  });

  it("denies a user's grant over suspendClient where no deny threshold is declared, and pauses only a machine", () => {
    const only = effectiveSettings(decls([organization('north', { risk: { rules: { newClientAddress: { weight: 50 } }, thresholds: { suspendClient: 50 } } })]), 'north')!.risk!;
    expect(decide(only, 49, 'grant')).toBe('allow');
    expect(decide(only, 50, 'grant')).toBe('deny');
    expect(decide(only, 50, 'machine')).toBe('suspendClient');
    expect(decide(only, 50, 'sign-in')).toBe('allow');
  });
});

describe('outsideHours', () => {
  const office = { weight: 1, from: '07:00', to: '19:00', timeZone: 'Europe/Amsterdam', days: ['mon', 'tue', 'wed', 'thu', 'fri'] as ('mon' | 'tue' | 'wed' | 'thu' | 'fri')[] };
  const night = { weight: 1, from: '22:00', to: '06:00', days: ['mon'] as 'mon'[] };

  it.each([
    ['2026-11-23T06:30:00Z', false], // Monday 07:30 in Amsterdam
    ['2026-11-23T05:59:00Z', true], // Monday 06:59
    ['2026-11-23T18:00:00Z', true], // Monday 19:00: `to` is outside
    ['2026-11-28T10:00:00Z', true], // Saturday
  ])('office hours in Amsterdam: %s outside is %s', (at, outside) => {
    expect(outsideHours(office, Date.parse(at))).toBe(outside);
  });

  it.each([
    ['2026-11-23T23:00:00Z', false], // Monday night
    ['2026-11-24T03:00:00Z', false], // the early hours after Monday belong to Monday's window
    ['2026-11-24T23:00:00Z', true], // Tuesday night
    ['2026-11-23T12:00:00Z', true], // Monday noon
  ])('a night shift past midnight, in UTC: %s outside is %s', (at, outside) => {
    expect(outsideHours(night, Date.parse(at))).toBe(outside);
  });
});

describe('distances between countries', () => {
  it('are great-circle distances between their capitals, unknown for a country not in the table', () => {
    expect(distanceKm('NL', 'NL')).toBe(0);
    expect(distanceKm('NL', 'US')).toBeGreaterThan(6000);
    expect(distanceKm('NL', 'US')).toBeLessThan(6400);
    expect(distanceKm('NL', 'BE')).toBeLessThan(200);
    expect(distanceKm('NL', 'AQ')).toBeUndefined();
  });
});
