import { ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from './resources.ts';

/** Most resources a list returns at once (`filter.maxResults`). */
export const MAX_RESULTS = 200;

interface Attribute {
  name: string;
  type: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime';
  multiValued?: boolean;
  required?: boolean;
  mutability?: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  uniqueness?: 'none' | 'server';
  returned?: 'always' | 'default' | 'never';
  subAttributes?: Attribute[];
  referenceTypes?: string[];
}

/** RFC 7643 §7's attribute definition, with its defaults written out (clients read them literally). */
function attribute(a: Attribute): Record<string, unknown> {
  return {
    name: a.name,
    type: a.type,
    multiValued: a.multiValued ?? false,
    description: '',
    required: a.required ?? false,
    caseExact: false,
    mutability: a.mutability ?? 'readWrite',
    returned: a.returned ?? 'default',
    uniqueness: a.uniqueness ?? 'none',
    ...(a.referenceTypes ? { referenceTypes: a.referenceTypes } : {}),
    ...(a.subAttributes ? { subAttributes: a.subAttributes.map(attribute) } : {}),
  };
}

const str = (name: string, extra: Partial<Attribute> = {}): Attribute => ({ name, type: 'string', ...extra });
const multi = (name: string): Attribute => ({ name, type: 'complex', multiValued: true, subAttributes: [str('value'), str('display'), str('type'), { name: 'primary', type: 'boolean' }] });

const SCHEMAS: { id: string; name: string; description: string; attributes: Attribute[] }[] = [
  {
    id: USER_SCHEMA,
    name: 'User',
    description: "A partner's user. userName and every email must be in the organization's email domains.",
    attributes: [
      str('userName', { required: true, uniqueness: 'server' }),
      { name: 'name', type: 'complex', subAttributes: ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'].map((n) => str(n)) },
      str('displayName'),
      str('nickName'),
      str('title'),
      str('userType'),
      str('preferredLanguage'),
      str('locale'),
      str('timezone'),
      { name: 'active', type: 'boolean' },
      multi('emails'),
      multi('phoneNumbers'),
      { name: 'groups', type: 'complex', multiValued: true, mutability: 'readOnly', subAttributes: [str('value', { mutability: 'readOnly' }), { name: '$ref', type: 'reference', referenceTypes: ['Group'], mutability: 'readOnly' }, str('display', { mutability: 'readOnly' })] },
    ],
  },
  {
    id: ENTERPRISE_SCHEMA,
    name: 'EnterpriseUser',
    description: 'Enterprise User: its attributes are user attributes in ClaimMappings (from: user.<attribute>, e.g. department, employeeNumber, manager).',
    attributes: [str('employeeNumber'), str('costCenter'), str('organization'), str('division'), str('department'), { name: 'manager', type: 'complex', subAttributes: [str('value'), { name: '$ref', type: 'reference', referenceTypes: ['User'] }, str('displayName', { mutability: 'readOnly' })] }],
  },
  {
    id: GROUP_SCHEMA,
    name: 'Group',
    description: "A partner's group; its members are users this connection provisioned.",
    attributes: [
      str('displayName', { required: true, uniqueness: 'server' }),
      { name: 'members', type: 'complex', multiValued: true, subAttributes: [str('value', { mutability: 'immutable' }), { name: '$ref', type: 'reference', referenceTypes: ['User'], mutability: 'immutable' }, str('display'), str('type', { mutability: 'immutable' })] },
    ],
  },
];

const meta = (base: string, resourceType: string, path: string) => ({ resourceType, location: `${base}/${path}` });

export function serviceProviderConfig(base: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [{ type: 'oauthbearertoken', name: 'Bearer token', description: 'The token POST /admin/v1/namespaces/{namespace}/idpconnections/{name}/scim-token returned (shown once).', primary: true }],
    meta: meta(base, 'ServiceProviderConfig', 'ServiceProviderConfig'),
  };
}

export function resourceTypes(base: string): Record<string, unknown>[] {
  return [
    { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'User', name: 'User', endpoint: '/Users', schema: USER_SCHEMA, schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }], meta: meta(base, 'ResourceType', 'ResourceTypes/User') },
    { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'Group', name: 'Group', endpoint: '/Groups', schema: GROUP_SCHEMA, meta: meta(base, 'ResourceType', 'ResourceTypes/Group') },
  ];
}

export function schemas(base: string): Record<string, unknown>[] {
  return SCHEMAS.map((s) => ({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'], id: s.id, name: s.name, description: s.description, attributes: s.attributes.map(attribute), meta: meta(base, 'Schema', `Schemas/${s.id}`) }));
}
