/** Canonical JSON: one string for equal values, whatever order their keys were written in. */
import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from '../../api/canonical.ts';

describe('canonicalJson', () => {
  it('sorts object keys at every depth by UTF-16 code unit', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null }, B: 0, é: 2, '10': 1, '9': 1 })).toBe('{"10":1,"9":1,"B":0,"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1,"é":2}');
  });

  it('gives equal values the same string, whatever their key order', () => {
    expect(canonicalJson({ spec: { a: 1, b: [1, 2] }, labels: {} })).toBe(canonicalJson({ labels: {}, spec: { b: [1, 2], a: 1 } }));
  });

  it('leaves out members that are undefined and writes undefined array items as null, as JSON does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
    expect(canonicalJson(undefined)).toBe('null');
  });

  it('writes strings and numbers exactly as JSON.stringify does', () => {
    for (const value of ['quote " and \\ and \n and \u2028', 'Zoë', 0, -1.5, 1e21, Number.NaN, true]) expect(canonicalJson(value)).toBe(JSON.stringify(value));
  });
});
