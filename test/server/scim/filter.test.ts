/** SCIM filters (RFC 7644 §3.4.2.2): what parses, what is refused, and what matches. */
import { describe, expect, it } from '@jest/globals';
import { ScimError } from '../../../server/scim/errors.ts';
import { matches, parseFilter, valuesAt } from '../../../server/scim/filter.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const lena = {
  userName: 'lena@forge.example',
  externalId: '00u-lena',
  active: true,
  name: { givenName: 'Lena', familyName: 'Forge' },
  emails: [
    { value: 'lena@forge.example', type: 'work', primary: true },
    { value: 'l@forge-labs.example', type: 'home' },
  ],
  [ENTERPRISE]: { department: 'Procurement', manager: { value: 'boss' } },
};
const hit = (f: string) => matches(lena, parseFilter(f));

describe('parsing', () => {
  it('reads comparisons, presence, and/or/not with the usual precedence, and value paths', () => {
    expect(parseFilter('userName eq "a"')).toEqual({ op: 'eq', path: 'userName', value: 'a' });
    expect(parseFilter('a eq 1 or b eq true and c pr')).toEqual({ op: 'or', left: { op: 'eq', path: 'a', value: 1 }, right: { op: 'and', left: { op: 'eq', path: 'b', value: true }, right: { op: 'pr', path: 'c' } } });
    expect(parseFilter('NOT (active EQ false)')).toEqual({ op: 'not', filter: { op: 'eq', path: 'active', value: false } });
    expect(parseFilter('emails[type eq "work"].value eq "x"')).toEqual({ op: 'has', path: 'emails', filter: { op: 'and', left: { op: 'eq', path: 'type', value: 'work' }, right: { op: 'eq', path: 'value', value: 'x' } } });
    expect(parseFilter('userName eq "quote \\" inside"')).toMatchObject({ value: 'quote " inside' });
  });

  it.each([
    ['userName xx "a"', 'expected an operator'],
    ['userName eq "a', 'not closed'],
    ['userName eq a', 'is not a value'],
    ['(userName eq "a"', 'expected ")"'],
    ['userName eq "a" extra', 'unexpected "extra"'],
    ['eq "a"', 'after eq'],
    ['', 'expected an attribute name'],
    ['x'.repeat(2049), 'longer than'],
  ])('refuses %s as 400 invalidFilter', (filter, detail) => {
    let error: unknown;
    try {
      parseFilter(filter);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScimError);
    expect(error).toMatchObject({ status: 400, scimType: 'invalidFilter', message: expect.stringContaining(detail) });
  });
});

describe('matching', () => {
  it('compares strings case-insensitively with every operator', () => {
    expect(hit('userName eq "LENA@forge.example"')).toBe(true);
    expect(hit('userName ne "lena@forge.example"')).toBe(false);
    expect(hit('userName co "@FORGE"')).toBe(true);
    expect(hit('userName sw "lena"')).toBe(true);
    expect(hit('userName ew ".example"')).toBe(true);
    expect(hit('userName gt "a" and userName lt "m"')).toBe(true);
  });

  it('reads sub-attributes, multi-valued attributes, value filters and extension URNs', () => {
    expect(hit('name.givenName eq "lena"')).toBe(true);
    expect(hit('emails.value eq "l@forge-labs.example"')).toBe(true);
    expect(hit('emails[type eq "work"].value eq "l@forge-labs.example"')).toBe(false);
    expect(hit('emails[type eq "home" and value ew "labs.example"]')).toBe(true);
    expect(hit(`${ENTERPRISE}:department eq "procurement"`)).toBe(true);
    expect(hit(`${ENTERPRISE}:manager.value eq "boss"`)).toBe(true);
  });

  it('compares booleans and presence; an absent attribute matches nothing but ne', () => {
    expect(hit('active eq true')).toBe(true);
    expect(hit('active eq "true"')).toBe(false);
    expect(hit('title pr')).toBe(false);
    expect(hit('externalId pr')).toBe(true);
    expect(hit('title eq "x"')).toBe(false);
    expect(hit('title ne "x"')).toBe(true);
  });

  it('valuesAt flattens multi-valued attributes along the path', () => {
    expect(valuesAt(lena, 'emails.type')).toEqual(['work', 'home']);
    expect(valuesAt(lena, 'nothing.here')).toEqual([]);
  });
});
