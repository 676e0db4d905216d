import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { DeclarationSource } from '../../api/index.ts';
import { keyOf, objectKey, type DeclarationError, type DesiredObject, type DesiredState } from '../desired-state.ts';
import { GitHistory } from './git.ts';
import { watchTree } from './tree-watch.ts';
import { lastChangeMs, parseFile, readManifests, type ManifestCache, type ManifestError, type ManifestObject } from './manifest-files.ts';

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

/** What one file declares, as the last read found it. */
interface FileEntry {
  objects: DesiredObject[];
  errors: DeclarationError[];
  /** A document in it could not be read at all, or its object cannot be told: deletions stop. */
  incomplete: boolean;
}

/**
 * Declarations from a folder of YAML files: GitOps without a cluster. `read()` returns the whole
 * desired state; `changed(paths)` re-reads only the files a watch event named and answers the
 * keys of the objects they declare or declared (file → objects), and `readKeys(keys)` hands
 * out those objects' declarations from memory; `watch()` says what changed.
 */
export class DirectorySource {
  readonly dir: string;
  private readonly defaultNamespace: string;
  private readonly useGit: boolean;
  private git: GitHistory | undefined | null = null;
  private readonly cache: ManifestCache = new Map();
  /** By file (relative to `dir`), after the last full read: undefined before it. */
  private files: Map<string, FileEntry> | undefined;
  /** Which file declares each key. */
  private readonly owners = new Map<string, string>();
  /** Files holding an error that blocks deletions or names no object. */
  private readonly troubled = new Set<string>();
  /** The last full read found an object declared twice: only a full read tells which file wins. */
  private duplicates = false;
  /** Reads one at a time, so an older full read never overwrites a newer file's entry. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: DirectorySourceOptions) {
    this.dir = resolve(options.dir);
    this.defaultNamespace = options.defaultNamespace ?? 'default';
    this.useGit = options.git ?? true;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
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

  /** Provenance and status source of each file, looked up once per read. */
  private origins(git: GitHistory | undefined) {
    const origins = new Map<string, { provenance: Record<string, string>; source: DeclarationSource }>();
    return async (file: string) => {
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
  }

  private static desired(m: ManifestObject, origin: { provenance: Record<string, string>; source: DeclarationSource }): DesiredObject {
    const document = m.document + 1;
    return {
      object: m.object,
      provenance: { ...origin.provenance, document: String(document) },
      source: { ...origin.source, document },
      origin: { file: m.file, document },
    };
  }

  private static declarationError(e: ManifestError): DeclarationError {
    return { ...(e.target ? { target: e.target } : {}), label: e.object, reason: 'InvalidSpec', message: e.message, origin: { file: e.file, document: e.document + 1 } };
  }

  read(): Promise<DesiredState> {
    return this.serial(() => this.readAll());
  }

  private async readAll(): Promise<DesiredState> {
    await this.gitRoot();
    const git = this.git ?? undefined;
    await git?.refresh();
    const manifests = await this.settledManifests();
    const originOf = this.origins(git);
    const objects: DesiredObject[] = [];
    for (const m of manifests.objects) objects.push(DirectorySource.desired(m, await originOf(m.file)));
    const errors = manifests.errors.map((e) => DirectorySource.declarationError(e));
    // A document that is not YAML, or whose kind or name cannot be told, might have declared
    // anything: deleting "undeclared" objects in that pass could delete what it declares.
    const complete = manifests.errors.every((e) => !e.unreadable && e.target !== undefined);

    const files = new Map<string, FileEntry>();
    const entry = (file: string) => files.get(file) ?? files.set(file, { objects: [], errors: [], incomplete: false }).get(file)!;
    this.owners.clear();
    this.troubled.clear();
    for (const item of objects) {
      entry(item.origin!.file!).objects.push(item);
      this.owners.set(keyOf(objectKey(item.object)), item.origin!.file!);
    }
    for (const [n, e] of manifests.errors.entries()) {
      const file = entry(e.file);
      file.errors.push(errors[n]!);
      if (e.unreadable || !e.target) {
        file.incomplete = true;
        this.troubled.add(e.file);
      } else if (!this.owners.has(keyOf(e.target))) this.owners.set(keyOf(e.target), e.file);
    }
    this.duplicates = manifests.errors.some((e) => !e.target && !e.unreadable && / is declared twice /.test(e.message));
    this.files = files;
    return { objects, errors, complete };
  }

  /**
   * Re-reads only the YAML files among `paths` (absolute, as a watch reports them) and answers
   * the keys whose declarations they hold or held: what a keyed pass reconciles. Undefined when
   * only a full read can tell (before the first one, a folder that came or went, an object now
   * declared in two files).
   */
  changed(paths: ReadonlySet<string>): Promise<Set<string> | undefined> {
    return this.serial(async () => {
      const files = this.files;
      if (!files || this.duplicates) return undefined;
      const names = new Set<string>();
      for (const path of paths) {
        const file = relative(this.dir, path);
        if (file === '' || file.startsWith('..')) return undefined;
        if (file.split(sep).some((part) => part.startsWith('.') || part === 'node_modules')) continue;
        if (/\.ya?ml$/i.test(file)) {
          names.add(file);
          continue;
        }
        // Not a YAML file: an editor's temporary file is nothing, a folder changes files no event named.
        const info = await stat(path).catch(() => undefined);
        if (info?.isDirectory() || (!info && [...files.keys()].some((f) => f.startsWith(`${file}${sep}`)))) return undefined;
      }
      if (names.size === 0) return new Set();
      await this.settle([...names]);
      const git = this.git ?? undefined;
      await git?.refresh();
      const originOf = this.origins(git);
      const read = new Map<string, FileEntry | undefined>();
      for (const file of names) {
        const path = join(this.dir, file);
        const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined;
          throw error;
        });
        if (text === undefined) {
          this.cache.delete(path);
          read.set(file, undefined);
          continue;
        }
        const cached = this.cache.get(path);
        const parsed = cached?.text === text ? cached.parsed : parseFile(file, text, this.defaultNamespace);
        this.cache.set(path, { text, parsed });
        const entry: FileEntry = { objects: [], errors: [], incomplete: false };
        const keys = new Set<string>();
        for (const p of parsed) {
          if (p.kind === 'error') {
            entry.errors.push(DirectorySource.declarationError(p.error));
            if (p.error.unreadable || !p.error.target) entry.incomplete = true;
            continue;
          }
          const key = keyOf(objectKey(p.object));
          const owner = this.owners.get(key);
          // Declared twice (in this file, or in a file this change leaves as it is): a full read reports it.
          if (keys.has(key) || (owner !== undefined && owner !== file && !names.has(owner))) return undefined;
          keys.add(key);
          entry.objects.push(DirectorySource.desired({ object: p.object, file, document: p.document }, await originOf(file)));
        }
        read.set(file, entry);
      }
      const dirty = new Set<string>();
      // A problem that names no object (a document that is not YAML) appears or goes away: a full
      // pass reports it as a full read would, and deletes nothing while it lasts.
      let full = false;
      const keysOf = (entry: FileEntry | undefined) => [...(entry?.objects ?? []).map((o) => keyOf(objectKey(o.object))), ...(entry?.errors ?? []).flatMap((e) => (e.target ? [keyOf(e.target)] : []))];
      for (const [file, entry] of read) {
        for (const key of keysOf(files.get(file))) {
          dirty.add(key);
          if (this.owners.get(key) === file) this.owners.delete(key);
        }
        if (entry) files.set(file, entry);
        else files.delete(file);
        const troubled = entry !== undefined && (entry.incomplete || entry.errors.some((e) => !e.target));
        if (troubled || this.troubled.has(file)) full = true;
        if (troubled) this.troubled.add(file);
        else this.troubled.delete(file);
      }
      for (const [file, entry] of read) {
        for (const key of keysOf(entry)) {
          dirty.add(key);
          this.owners.set(key, file);
        }
      }
      return full ? undefined : dirty;
    });
  }

  /** Waits until the named files (and their folders) have been still for SETTLE_MS, as a full read does for the tree. */
  private async settle(files: readonly string[]): Promise<void> {
    const paths = [...new Set(files.flatMap((f) => [join(this.dir, f), dirname(join(this.dir, f))]))];
    for (let tries = 1; tries < SETTLE_TRIES; tries++) {
      let newest = 0;
      for (const path of paths) {
        const info = await stat(path).catch(() => undefined);
        // An empty file is mid-save (see lastChangeMs): wait for its text.
        newest = Math.max(newest, info?.isFile() && info.size === 0 ? Date.now() : (info?.mtimeMs ?? 0));
      }
      const quietFor = Date.now() - newest;
      if (quietFor >= SETTLE_MS) return;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS - Math.max(0, quietFor)));
    }
  }

  /**
   * The declarations of `keys` as the last reads left them, from memory, with the problems
   * that name no object (they stay problems of every pass until fixed). Complete only when no
   * file has a document whose object cannot be told.
   */
  async readKeys(keys: ReadonlySet<string>): Promise<DesiredState> {
    const files = this.files ?? new Map<string, FileEntry>();
    const objects: DesiredObject[] = [];
    const errors: DeclarationError[] = [];
    const fromFiles = new Set<string>(this.troubled);
    for (const key of keys) {
      const file = this.owners.get(key);
      if (file) fromFiles.add(file);
    }
    for (const file of fromFiles) {
      const entry = files.get(file);
      if (!entry) continue;
      for (const o of entry.objects) if (keys.has(keyOf(objectKey(o.object)))) objects.push(o);
      for (const e of entry.errors) if (!e.target || keys.has(keyOf(e.target))) errors.push(e);
    }
    const complete = [...this.troubled].every((f) => !files.get(f)?.incomplete);
    return { objects, errors, complete };
  }

  /**
   * Calls `onChange` once things settle after files change (editors write in several steps;
   * `git checkout` touches many files), including files replaced by a rename and folders
   * added or removed, with the paths that changed (undefined when that cannot be told). In a
   * checkout, a commit or checkout that changes no file is a change too (provenance moves).
   * Returns a function that stops watching.
   */
  watch(onChange: (changed?: ReadonlySet<string>) => void, debounceMs = 150): () => void {
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
