// Message templates: declared on the Workspace (`notifications.templates`) with per-Organization
// overrides, checked at admission (a variable the message does not offer is an error naming the
// field), rendered with escaping from a fixed set of variables, branded with the organization.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MESSAGE_NAMES, unknownVariables, type OrganizationObject, type WorkspaceObject } from '../../../api/index.ts';
import type { NamespaceView } from '../../../server/governance/organizations.ts';
import { DEFAULT_TEMPLATES, renderMessage, templateFor } from '../../../server/notifications/templates.ts';
import { NS, organization, workspace } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

function view(ws: object, orgs: object[]): NamespaceView {
  return {
    namespace: NS,
    workspace: workspace(ws) as unknown as WorkspaceObject,
    templates: new Map(),
    organizations: new Map(orgs.map((o) => [(o as OrganizationObject).metadata.name, o as OrganizationObject])),
    certifications: new Map(),
  };
}

describe('the built-in templates', () => {
  it.each(MESSAGE_NAMES.map((m) => [m]))('%s uses only the variables its message offers, in every part', (message) => {
    const t = DEFAULT_TEMPLATES[message];
    expect([...unknownVariables(message, t.subject), ...unknownVariables(message, t.text), ...unknownVariables(message, t.html)]).toEqual([]);
  });
});

describe('rendering', () => {
  const v = view({ displayName: 'Blixit', notifications: { templates: { invitation: { subject: 'Workspace: {{organizationName}}', text: 'Workspace text {{link}}' } } } }, [
    organization('parent', { displayName: 'Parent & Co', notifications: { templates: { invitation: { text: 'Parent text {{link}}', language: 'fr' } } } }),
    organization('child', { displayName: 'Child <Ltd>', parentRef: { name: 'parent' }, branding: { primaryColor: '#004d40' }, notifications: { templates: { invitation: { html: '<p>Child {{recipientName}} <a href="{{link}}">go</a></p>' } } } }),
    organization('plain', { displayName: 'Plain' }),
  ]);

  it('takes each part from the organization, its parents, the Workspace, then the default', () => {
    expect(templateFor(v, 'child', 'invitation')).toEqual({ subject: 'Workspace: {{organizationName}}', text: 'Parent text {{link}}', html: '<p>Child {{recipientName}} <a href="{{link}}">go</a></p>', language: 'fr' });
    expect(templateFor(v, 'plain', 'invitation')).toEqual({ ...DEFAULT_TEMPLATES.invitation, subject: 'Workspace: {{organizationName}}', text: 'Workspace text {{link}}' });
    expect(templateFor(v, 'plain', 'password-reset')).toEqual(DEFAULT_TEMPLATES['password-reset']);
  });

  it('escapes every value in the HTML part, leaves the text part plain, and keeps the subject on one line', () => {
    const r = renderMessage(v, 'child', 'invitation', { recipientName: '<script>alert(1)</script>', link: 'https://id.example/x?a=1&b="2"' });
    expect(r.subject).toBe('Workspace: Child <Ltd>');
    expect(r.text).toBe('Parent text https://id.example/x?a=1&b="2"');
    expect(r.html).toContain('<p>Child &lt;script&gt;alert(1)&lt;/script&gt; <a href="https://id.example/x?a=1&amp;b=&quot;2&quot;">go</a></p>');
    expect(r.html).not.toContain('<script>');
    expect(r.html).toContain('<html lang="fr">');
    expect(r.html).toContain('#004d40');
    expect(renderMessage(v, 'plain', 'contract-ending', { contractId: 'C-1\r\nBcc: x@evil.example', endsAt: 'soon', remaining: 'in 3 days' }).subject).toBe('The Plain contract C-1 Bcc: x@evil.example ends in 3 days');
  });

  it("reads only the variables of the message: another message's, or anything else, renders empty", () => {
    // Stored before admission checked it (or written by hand into the store): still nothing to read.
    const sneaky = view({ notifications: { templates: { 'password-changed': { text: '[{{link}}][{{process.env.GATEHOUSE_SECRET_KEY}}][{{changedAt}}]' } } } }, [organization('plain')]);
    expect(renderMessage(sneaky, 'plain', 'password-changed', { link: 'https://secret-link', changedAt: 'now' }).text).toBe('[][][now]');
  });
});

describe('admission of declared templates', () => {
  let gh: TestServer;
  beforeAll(async () => {
    gh = await startTestServer();
  });
  afterAll(async () => {
    await gh.close();
  });

  it("accepts templates that use their message's variables, with a language", async () => {
    const res = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/workspaces/blixit`, workspace({ notifications: { templates: { invitation: { language: 'de-CH', subject: 'Willkommen {{ recipientName }}', text: '{{link}}', html: '<p>{{link}}</p>' } } } }));
    expect(res.status).toBeLessThan(300);
    const org = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/organizations/cascade`, organization('cascade', { notifications: { templates: { 'contract-ending': { subject: '{{contractId}} ends {{remaining}}' } } } }));
    expect(org.status).toBeLessThan(300);
  });

  it.each([
    ['workspaces', 'blixit', 'spec.notifications.templates.invitation.subject', 'unknown variable {{password}}', workspace({ notifications: { templates: { invitation: { subject: 'Hi {{password}}' } } } })],
    ['organizations', 'cascade', 'spec.notifications.templates.contract-ending.text', 'unknown variable {{link}}', organization('cascade', { notifications: { templates: { 'contract-ending': { text: 'Reset: {{link}}' } } } })],
    ['organizations', 'cascade', 'spec.notifications.templates.welcome-aboard', 'is not a message; expected one of invitation', organization('cascade', { notifications: { templates: { 'welcome-aboard': { subject: 'Hi' } } } })],
    ['workspaces', 'blixit', 'spec.notifications.templates.invitation.language', 'language tag', workspace({ notifications: { templates: { invitation: { language: 'english please' } } } })],
  ])('refuses a template on %s/%s that names what it may not: %s', async (plural, name, field, message, object) => {
    const res = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/${plural}/${name}`, object);
    expect(res.status).toBe(422);
    const text = JSON.stringify(res.body);
    expect(text).toContain(field);
    expect(text).toContain(message);
  });
});
