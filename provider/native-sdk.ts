// Generated from provider/schema.json by provider/generate.ts (npm run gen:pulumi-schema) — do not edit.
import * as pulumi from '@pulumi/pulumi';
import type * as api from '../api/index.ts';
import { resourceInputs, resourceOptions } from './native-support.ts';
import type { AccessPolicyArgs, ClaimMappingArgs, ClientArgs, IdPConnectionArgs, OrganizationArgs, OrganizationTemplateArgs, SpecOutput, UserArgs, WorkspaceArgs } from './types.ts';

export { Provider, type ProviderArgs } from './native-support.ts';
export type { AccessPolicyArgs, ClaimMappingArgs, ClientArgs, IdPConnectionArgs, OrganizationArgs, OrganizationTemplateArgs, UserArgs, WorkspaceArgs } from './types.ts';

/** Defaults and guardrails shared by every organization of a namespace. */
export class Workspace extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:Workspace';

  /** An existing Workspace by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): Workspace {
    return new Workspace(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is Workspace {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === Workspace.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The Workspace's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared Workspace (the `spec` of the Workspace custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.Workspace>>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;
  /** The issuer of the workspace's shared applications. */
  declare readonly issuer: pulumi.Output<string | undefined>;

  constructor(name: string, args: WorkspaceArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: WorkspaceArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec"], ["namespace","name","labels","annotations","spec","generation","issuer"]);
    super(Workspace.__pulumiType, name, inputs, resourceOptions(opts, []));
  }
}

/** Settings and claims that organizations referencing the template inherit. */
export class OrganizationTemplate extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:OrganizationTemplate';

  /** An existing OrganizationTemplate by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): OrganizationTemplate {
    return new OrganizationTemplate(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is OrganizationTemplate {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === OrganizationTemplate.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The OrganizationTemplate's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared OrganizationTemplate (the `spec` of the OrganizationTemplate custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.OrganizationTemplate>>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;

  constructor(name: string, args: OrganizationTemplateArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: OrganizationTemplateArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec"], ["namespace","name","labels","annotations","spec","generation"]);
    super(OrganizationTemplate.__pulumiType, name, inputs, resourceOptions(opts, []));
  }
}

/** One partner company: its contract, lifetimes, branding and kill switch. */
export class Organization extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:Organization';

  /** An existing Organization by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): Organization {
    return new Organization(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is Organization {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === Organization.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The Organization's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared Organization (the `spec` of the Organization custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.Organization>>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;
  /** The organization's OpenID Connect issuer URL. */
  declare readonly issuer: pulumi.Output<string | undefined>;

  constructor(name: string, args: OrganizationArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: OrganizationArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec"], ["namespace","name","labels","annotations","spec","generation","issuer"]);
    super(Organization.__pulumiType, name, inputs, resourceOptions(opts, []));
  }
}

/** An organization's own identity provider (OIDC or SAML) or its user directory. */
export class IdPConnection extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:IdPConnection';

  /** An existing IdPConnection by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): IdPConnection {
    return new IdPConnection(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is IdPConnection {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === IdPConnection.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The IdPConnection's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared IdPConnection (the `spec` of the IdPConnection custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.IdPConnection>>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;

  constructor(name: string, args: IdPConnectionArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: IdPConnectionArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec"], ["namespace","name","labels","annotations","spec","generation"]);
    super(IdPConnection.__pulumiType, name, inputs, resourceOptions(opts, []));
  }
}

/** An application registered in one organization (or the workspace) that receives tokens. */
export class Client extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:Client';

  /** An existing Client by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): Client {
    return new Client(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is Client {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === Client.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The Client's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared Client (the `spec` of the Client custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.Client>>;
  /** Any value; changing it has the server generate a new client secret (web and m2m clients). */
  declare readonly rotateSecretTrigger: pulumi.Output<string | undefined>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;
  /** The OAuth client_id. */
  declare readonly clientId: pulumi.Output<string | undefined>;
  /** The issuer whose tokens the client receives. */
  declare readonly issuer: pulumi.Output<string | undefined>;
  /** Web and m2m clients: the client secret, generated by the server when the client is created or rotated; a Pulumi secret. Absent for public (spa, native) clients and for imported clients until rotated. */
  declare readonly clientSecret: pulumi.Output<string | undefined>;

  constructor(name: string, args: ClientArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: ClientArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec","rotateSecretTrigger"], ["namespace","name","labels","annotations","spec","rotateSecretTrigger","generation","clientId","issuer","clientSecret"]);
    super(Client.__pulumiType, name, inputs, resourceOptions(opts, ["clientSecret"]));
  }
}

/** Claims added to the access and/or ID tokens of an organization or one of its clients. */
export class ClaimMapping extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:ClaimMapping';

  /** An existing ClaimMapping by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): ClaimMapping {
    return new ClaimMapping(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is ClaimMapping {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === ClaimMapping.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The ClaimMapping's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared ClaimMapping (the `spec` of the ClaimMapping custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.ClaimMapping>>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;

  constructor(name: string, args: ClaimMappingArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: ClaimMappingArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec"], ["namespace","name","labels","annotations","spec","generation"]);
    super(ClaimMapping.__pulumiType, name, inputs, resourceOptions(opts, []));
  }
}

/** Which scopes an organization may obtain for a client, and which need MFA or approval. */
export class AccessPolicy extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:AccessPolicy';

  /** An existing AccessPolicy by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): AccessPolicy {
    return new AccessPolicy(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is AccessPolicy {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === AccessPolicy.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The AccessPolicy's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared AccessPolicy (the `spec` of the AccessPolicy custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.AccessPolicy>>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;

  constructor(name: string, args: AccessPolicyArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: AccessPolicyArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec"], ["namespace","name","labels","annotations","spec","generation"]);
    super(AccessPolicy.__pulumiType, name, inputs, resourceOptions(opts, []));
  }
}

/** A declared user: a partner administrator, or a user of a partner without an IdP of its own. */
export class User extends pulumi.CustomResource {
  static readonly __pulumiType = 'gatehouse:index:User';

  /** An existing User by its id, `namespace/name`: its properties are read from the server (`pulumi import` uses the same id). */
  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): User {
    return new User(name, undefined, { ...opts, id });
  }

  static override isInstance(obj: unknown): obj is User {
    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === User.__pulumiType;
  }

  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. Changing it replaces the object. */
  declare readonly namespace: pulumi.Output<string>;
  /** The User's name, a DNS-1123 label; client ids and issuer URLs derive from it. Defaults to the Pulumi resource name, without a random suffix. Changing it replaces the object. */
  declare readonly name: pulumi.Output<string>;
  /** Labels, as on a Kubernetes object. */
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  /** Annotations, as on a Kubernetes object. */
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  /** The declared User (the `spec` of the User custom resource). */
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.User>>;
  /** The generation the server assigned to the declaration it holds. */
  declare readonly generation: pulumi.Output<number>;

  constructor(name: string, args: UserArgs, opts?: pulumi.CustomResourceOptions);
  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });
  constructor(name: string, args: UserArgs | undefined, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs(args, ["namespace","name","labels","annotations","spec"], ["namespace","name","labels","annotations","spec","generation"]);
    super(User.__pulumiType, name, inputs, resourceOptions(opts, []));
  }
}
