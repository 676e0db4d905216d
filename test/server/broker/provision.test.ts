// The one check every upstream's email passes before provisioning (OIDC and SAML alike).
import { describe, expect, it } from '@jest/globals';
import { routableEmail } from '../../../server/broker/provision.ts';

describe('routableEmail', () => {
  it.each([
    ['Piet@Pinnacle.example', 'piet@pinnacle.example'],
    ["o'brien+orders@pinnacle.example", "o'brien+orders@pinnacle.example"],
    ['piet@xn--bcher-kva.example', 'piet@xn--bcher-kva.example'],
  ])('takes the plain address %s as %s', (sent, email) => {
    expect(routableEmail(sent)).toBe(email);
  });

  it.each([
    ['a quoted local part', '"boss@cascade.example"@pinnacle.example'],
    ['a quoted local part with spaces', '"piet pinnacle"@pinnacle.example'],
    ['two @', 'boss@cascade.example@pinnacle.example'],
    ['a comment', 'piet(boss@cascade.example)@pinnacle.example'],
    ['a comment after the domain', 'piet@pinnacle.example(cascade.example)'],
    ['leading whitespace', ' piet@pinnacle.example'],
    ['a trailing newline', 'piet@pinnacle.example\n'],
    ['a NUL', 'piet\u0000@pinnacle.example'],
    ['a control character', 'piet\u001b@pinnacle.example'],
    ['an address literal', 'piet@[10.0.0.1]'],
    ['a host without a dot', 'piet@localhost'],
    ['a trailing dot', 'piet@pinnacle.example.'],
    ['a leading dot', '.piet@pinnacle.example'],
    ['consecutive dots', 'piet..boss@pinnacle.example'],
    ['a label starting with a hyphen', 'piet@-pinnacle.example'],
    ['non-ASCII (homographs)', 'piet@pinnаcle.example'],
    ['a backslash escape', 'piet\\@pinnacle.example'],
    ['no local part', '@pinnacle.example'],
    ['a local part over 64 characters', `${'p'.repeat(65)}@pinnacle.example`],
    ['over 254 characters', `piet@${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example`],
  ])('refuses %s', (_label, sent) => {
    expect(routableEmail(sent)).toBeUndefined();
  });
});
