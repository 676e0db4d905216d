import { join, resolve } from 'node:path';
import type { DeclarationSource } from '../../api/index.ts';
import type { DeclarationError, DesiredObject, DesiredState } from '../reconciler.ts';
import { GitHistory } from './git.ts';
import { watchTree } from './tree-watch.ts';
import { lastChangeMs, readManifests, type ManifestCache } from './manifest-files.ts';

/**
 * How long the tree must have been still before a read is believed. An editor saving in place
 * truncates the file, then writes it: a read between the two sees the file's objects gone, and
 * the pass would delete them (and end every token they granted). A read of a tree that changed
 * more recently than this waits and reads again.
 */
const SETTLE_MS = 250;
/** Reads again at most this often before going with what it has (the next change triggers a pass anyway). */
const SETTLE_TRIES = 8;

export interface DirectorySourceOptions {
  dir: string;
  defaultNamespace?: string;
  /** Record git commits as provenance when the folder is a checkout (default true). */
  git?: boolean;
}

/**
 * Declarations from a folder of YAML files: GitOps without a cluster. Every `read()` returns the
 * whole desired state; `watch()` says when to read again.
 */
export class DirectorySource {
  readonly dir: string;
  private readonly defaultNamespace: string;
  private readonly useGit: boolean;
  private git: GitHistory | undefined | null = null;
  private readonly cache: ManifestCache = new Map();

  constructor(options: DirectorySourceOptions) {
    this.dir = resolve(options.dir);
    this.defaultNamespace = options.defaultNamespace ?? 'default';
    this.useGit = options.git ?? true;
  }

  /** The checkout's root when provenance comes from git, else undefined. */
  async gitRoot(): Promise<string | undefined> {
    if (this.git === null) this.git = this.useGit ? await GitHistory.open(this.dir) : undefined;
    return this.git?.root;
  }

  /** The manifests as they are once the tree has been still for SETTLE_MS (see there). */
  private async settledManifests() {
    for (let tries = 1; ; tries++) {
      const changed = await lastChangeMs(this.dir);
      const manifests = await readManifests(this.dir, { defaultNamespace: this.defaultNamespace, cache: this.cache });
      const quietFor = Date.now() - Math.max(changed, await lastChangeMs(this.dir));
      if (quietFor >= SETTLE_MS || tries >= SETTLE_TRIES) return manifests;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS - Math.max(0, quietFor)));
    }
  }

  async read(): Promise<DesiredState> {
    await this.gitRoot();
    const git = this.git ?? undefined;
    await git?.refresh();
    const manifests = await this.settledManifests();
    const origins = new Map<string, { provenance: Record<string, string>; source: DeclarationSource }>();
    const originOf = async (file: string) => {
      const known = origins.get(file);
      if (known) return known;
      const change = git ? await git.lastChange(join(this.dir, file)) : undefined;
      const provenance: Record<string, string> = { source: git ? 'git' : 'directory', file };
      const source: DeclarationSource = { type: git ? 'git' : 'directory', file };
      if (change) {
        provenance.path = change.path;
        if (change.commit) {
          provenance.commit = change.commit;
          provenance.author = change.author;
          provenance.date = change.date;
          if (!change.uncommitted) Object.assign(source, { commit: change.commit, author: change.author, date: change.date });
        }
        // An edit not yet committed is not what that commit says: provenance names the commit it started from.
        if (change.uncommitted) provenance.uncommitted = 'true';
      }
      const origin = { provenance, source };
      origins.set(file, origin);
      return origin;
    };

    const objects: DesiredObject[] = [];
    for (const m of manifests.objects) {
      const { provenance, source } = await originOf(m.file);
      const document = m.document + 1;
      objects.push({
        object: m.object,
        provenance: { ...provenance, document: String(document) },
        source: { ...source, document },
        origin: { file: m.file, document },
      });
    }
    const errors: DeclarationError[] = manifests.errors.map((e) => ({
      ...(e.target ? { target: e.target } : {}),
      label: e.object,
      reason: 'InvalidSpec',
      message: e.message,
      origin: { file: e.file, document: e.document + 1 },
    }));
    // A document that is not YAML, or whose kind or name cannot be told, might have declared
    // anything: deleting "undeclared" objects in that pass could delete what it declares.
    const complete = manifests.errors.every((e) => !e.unreadable && e.target !== undefined);
    return { objects, errors, complete };
  }

  /**
   * Calls `onChange` once things settle after files change (editors write in several steps;
   * `git checkout` touches many files), including files replaced by a rename and folders
   * added or removed. In a checkout, a commit or checkout that changes no file is a change
   * too (provenance moves). Returns a function that stops watching.
   */
  watch(onChange: () => void, debounceMs = 150): () => void {
    const tree = watchTree(this.dir, onChange, { debounceMs });
    void this.gitRoot().then((root) => {
      if (!root) return;
      // git rewrites its index and lock files on its own: not a change of declarations. HEAD, refs and
      // COMMIT_EDITMSG move on a commit or checkout.
      const ignore = (name: string) => name === 'index' || name.endsWith('.lock') || name === 'objects' || name === 'logs';
      tree.also(join(root, '.git'), ignore);
      tree.also(join(root, '.git', 'refs', 'heads'), ignore);
    });
    return () => tree.close();
  }
}
