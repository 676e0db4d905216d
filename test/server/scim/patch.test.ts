/** PATCH (RFC 7644 §3.5.2) on a rendered resource, in the standard form and in Okta's and Entra's dialects. */
import { describe, expect, it } from '@jest/globals';
import { applyPatch, PATCH_SCHEMA } from '../../../server/scim/patch.ts';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const base = () => ({
  id: 'u1',
  userName: 'lena@forge.example',
  active: true,
  name: { givenName: 'Lena', familyName: 'Forge' },
  emails: [{ value: 'lena@forge.example', type: 'work' }],
  members: [{ value: 'a' }, { value: 'b' }],
});
const patch = (resource: Record<string, unknown>, ...Operations: object[]) => applyPatch(resource, { schemas: [PATCH_SCHEMA], Operations }, [ENTERPRISE], USER);
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e as { status: number; scimType?: string };
  }
  throw new Error('expected a refusal');
};

describe('operations with a path', () => {
  it('replace sets, add merges complex values and appends new multi-values once, remove deletes', () => {
    expect(patch(base(), { op: 'replace', path: 'name.givenName', value: 'Lina' }).name).toEqual({ givenName: 'Lina', familyName: 'Forge' });
    expect(patch(base(), { op: 'add', path: 'name', value: { middleName: 'M' } }).name).toEqual({ givenName: 'Lena', familyName: 'Forge', middleName: 'M' });
    expect(patch(base(), { op: 'add', path: 'members', value: [{ value: 'b' }, { value: 'c' }] }).members).toEqual([{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
    expect(patch(base(), { op: 'replace', path: 'members', value: [{ value: 'z' }] }).members).toEqual([{ value: 'z' }]);
    expect(patch(base(), { op: 'remove', path: 'name' }).name).toBeUndefined();
  });

  it('value filters select elements to change or remove; replace of an element not there makes it', () => {
    expect(patch(base(), { op: 'remove', path: 'members[value eq "a"]' }).members).toEqual([{ value: 'b' }]);
    expect(patch(base(), { op: 'replace', path: 'emails[type eq "work"].value', value: 'x@forge.example' }).emails).toEqual([{ value: 'x@forge.example', type: 'work' }]);
    expect(patch(base(), { op: 'add', path: 'emails[type eq "home"].value', value: 'h@forge.example' }).emails).toEqual([
      { value: 'lena@forge.example', type: 'work' },
      { type: 'home', value: 'h@forge.example' },
    ]);
    expect(refusal(() => patch(base(), { op: 'replace', path: 'emails[value co "zzz"].type', value: 'a' }))).toMatchObject({ status: 400, scimType: 'noTarget' });
  });

  it('extension attributes by URN, and the whole extension', () => {
    expect(patch(base(), { op: 'add', path: `${ENTERPRISE}:department`, value: 'Sales' })[ENTERPRISE]).toEqual({ department: 'Sales' });
    expect(patch(base(), { op: 'replace', path: ENTERPRISE, value: { division: 'EU' } })[ENTERPRISE]).toEqual({ division: 'EU' });
    expect(refusal(() => patch(base(), { op: 'add', path: 'urn:other:schema:attr', value: 1 }))).toMatchObject({ scimType: 'invalidPath' });
    expect(patch(base(), { op: 'replace', path: `${USER}:userName`, value: 'x@forge.example' }).userName).toBe('x@forge.example');
  });
});

describe("Okta's and Entra's dialects", () => {
  it('path-less replace of {"active": false}, and a value repeating the id (Okta)', () => {
    expect(patch(base(), { op: 'replace', value: { active: false } }).active).toBe(false);
    const renamed = patch(base(), { op: 'replace', value: { id: 'u1', displayName: 'Buyers' } });
    expect(renamed).toMatchObject({ id: 'u1', displayName: 'Buyers' });
  });

  it('op names in any case, path-less keys that are paths, removal of members listed as the value (Entra)', () => {
    expect(patch(base(), { op: 'Replace', path: 'active', value: 'False' }).active).toBe('False');
    expect(patch(base(), { op: 'Add', value: { 'name.givenName': 'Sandy', [`${ENTERPRISE}:employeeNumber`]: '42' } })).toMatchObject({ name: { givenName: 'Sandy' }, [ENTERPRISE]: { employeeNumber: '42' } });
    expect(patch(base(), { op: 'Remove', path: 'members', value: [{ $ref: null, value: 'a' }] }).members).toEqual([{ value: 'b' }]);
  });
});

describe('refusals', () => {
  it.each([
    ['a body that is not an object', 'x', 'invalidSyntax'],
    ['no PatchOp schema', { Operations: [{ op: 'add', path: 'a', value: 1 }] }, 'invalidSyntax'],
    ['no operations', { schemas: [PATCH_SCHEMA], Operations: [] }, 'invalidSyntax'],
    ['an unknown op', { schemas: [PATCH_SCHEMA], Operations: [{ op: 'move', path: 'a', value: 1 }] }, 'invalidSyntax'],
    ['remove without a path', { schemas: [PATCH_SCHEMA], Operations: [{ op: 'remove' }] }, 'noTarget'],
    ['add without a value', { schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'title' }] }, 'invalidValue'],
    ['path-less add of a non-object', { schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', value: 'x' }] }, 'invalidValue'],
    ['a read-only attribute', { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'meta', value: {} }] }, 'mutability'],
    ['a malformed path', { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'a..b', value: 1 }] }, 'invalidPath'],
  ])('%s is 400 %s', (_what, body, scimType) => {
    expect(refusal(() => applyPatch(base(), body, [ENTERPRISE], USER))).toMatchObject({ status: 400, scimType });
  });

  it('more than 1000 operations is 413', () => {
    const Operations = Array.from({ length: 1001 }, () => ({ op: 'replace', path: 'title', value: 'x' }));
    expect(refusal(() => applyPatch(base(), { schemas: [PATCH_SCHEMA], Operations }, [], USER))).toMatchObject({ status: 413 });
  });
});
