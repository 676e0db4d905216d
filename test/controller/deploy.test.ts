import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../../api/index.ts';

const read = (path: string) => parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as Record<string, any>);

describe('controller/deploy', () => {
  it('is a kustomization whose resources all exist, the generated CRDs included', () => {
    const [k] = read('controller/deploy/kustomization.yaml');
    for (const r of k!.resources as string[]) expect(existsSync(join('controller/deploy', r))).toBe(true);
    const [crds] = read('controller/crds/kustomization.yaml');
    const generated = readdirSync('controller/crds').filter((f) => /^gatehouse\.dev_.*\.yaml$/.test(f)).sort();
    expect([...(crds!.resources as string[])].sort()).toEqual(generated);
    expect(generated).toHaveLength(KINDS.length);
  });

  it('grants the controller what it uses and no more: Secrets by name only, no CRD writes, the Lease by name', () => {
    const docs = read('controller/deploy/rbac.yaml');
    const role = docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'gatehouse-controller')!;
    const rules = role.rules as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    for (const def of KINDS) {
      expect(rules.some((r) => r.apiGroups.includes('gatehouse.dev') && r.resources.includes(def.plural) && ['list', 'watch', 'patch'].every((v) => r.verbs.includes(v)))).toBe(true);
      expect(rules.some((r) => r.resources.includes(`${def.plural}/status`) && r.verbs.includes('patch'))).toBe(true);
    }
    const everything = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules as typeof rules);
    // Client secrets: get, create, update and delete, never list or watch (which would read every Secret).
    const secrets = everything.filter((r) => r.resources.includes('secrets'));
    expect(secrets.flatMap((r) => r.verbs).sort()).toEqual(['create', 'delete', 'get', 'update']);
    expect(secrets.every((r) => r.resources.length === 1 && r.apiGroups.join() === '')).toBe(true);
    expect(rules.some((r) => r.resources.includes('secrets'))).toBe(false);
    const bound = docs.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.roleRef.name);
    expect(bound).toEqual(expect.arrayContaining(['gatehouse-controller', 'gatehouse-controller-client-secrets']));
    expect(everything.flatMap((r) => r.resources)).not.toContain('customresourcedefinitions');
    expect(everything.flatMap((r) => r.verbs)).not.toContain('*');
    expect(everything.filter((r) => r.resources.includes('leases') && r.verbs.includes('update'))[0]?.resourceNames).toEqual(['gatehouse-controller']);
  });

  it('runs the server and the controller side by side, with the pod identity for the Lease', () => {
    const deployment = read('controller/deploy/deployment.yaml').find((d) => d.kind === 'Deployment')!;
    const containers = deployment.spec.template.spec.containers as { name: string; args: string[]; env: { name: string }[] }[];
    expect(containers.map((c) => c.name)).toEqual(['server', 'controller']);
    const controller = containers[1]!;
    expect(controller.args).toEqual(['controller', '--kubernetes', '--endpoint', 'http://127.0.0.1:8080']);
    expect(controller.env.map((e) => e.name)).toEqual(expect.arrayContaining(['GATEHOUSE_ADMIN_TOKEN', 'POD_NAME', 'POD_NAMESPACE']));
  });
});
