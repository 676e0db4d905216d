import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ValidationError, kindByName, objectLabel, parseObject, type AnyObject, type KindName } from '../../api/index.ts';

export interface ManifestObject {
  object: AnyObject;
  /** File relative to the directory, and the document's index in it (0-based). */
  file: string;
  document: number;
}

export interface ManifestError {
  file: string;
  document: number;
  object: string;
  message: string;
  /** The object the document meant to declare, when its kind and name can still be read. */
  target?: { kind: KindName; namespace: string; name: string };
  /** The document is not YAML at all, so what it declares is unknown. */
  unreadable?: boolean;
}

function targetOf(data: unknown, defaultNamespace: string): ManifestError['target'] {
  const rec = (data ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const def = typeof rec.kind === 'string' ? kindByName(rec.kind) : undefined;
  const name = rec.metadata?.name;
  if (!def || typeof name !== 'string' || name === '') return undefined;
  const namespace = typeof rec.metadata?.namespace === 'string' ? rec.metadata.namespace : defaultNamespace;
  return { kind: def.kind, namespace, name };
}

export interface Manifests {
  objects: ManifestObject[];
  errors: ManifestError[];
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/i.test(e.name) && !e.name.startsWith('.'))
    .map((e) => join(e.parentPath, e.name))
    .filter(
      (path) =>
        !relative(dir, path)
          .split(/[\\/]/)
          .some((part) => part.startsWith('.') || part === 'node_modules'),
    )
    .sort();
}

/**
 * When the declarations last changed: the newest modification time of any YAML file or folder
 * of the tree (a folder's changes when an entry is added, removed or renamed in it).
 */
export async function lastChangeMs(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const paths = [dir];
  for (const e of entries) {
    const path = join(e.parentPath, e.name);
    if (
      relative(dir, path)
        .split(/[\\/]/)
        .some((part) => part.startsWith('.') || part === 'node_modules')
    )
      continue;
    if (e.isDirectory() || (e.isFile() && /\.ya?ml$/i.test(e.name))) paths.push(path);
  }
  let newest = 0;
  for (const path of paths) {
    try {
      const info = await stat(path);
      // An empty YAML file is what a save looks like between its truncation and its text: count it
      // as changing now, so a read waits for the text (up to the settle's tries) instead of taking
      // the file's objects as removed. A file emptied on purpose still takes effect after the tries.
      newest = Math.max(newest, info.isFile() && info.size === 0 ? Date.now() : info.mtimeMs);
    } catch {
      newest = Number.POSITIVE_INFINITY; // gone while looked at: changing right now
    }
  }
  return newest;
}

/** Parsed documents of one file, reusable while the file's text is the same. */
export type ParsedFile = { kind: 'object'; object: AnyObject; document: number } | { kind: 'error'; error: ManifestError };

/** What a caller keeps between reads so unchanged files are not parsed again (YAML parsing dominates a read). */
export type ManifestCache = Map<string, { text: string; parsed: ParsedFile[] }>;

export function parseFile(file: string, text: string, defaultNamespace: string): ParsedFile[] {
  const out: ParsedFile[] = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, document) => {
    if (doc.errors.length > 0) {
      out.push({ kind: 'error', error: { file, document, object: `document ${document + 1}`, message: `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, unreadable: true } });
      return;
    }
    const data: unknown = doc.toJS({ maxAliasCount: 0 });
    if (data === null || data === undefined) return; // an empty document, e.g. after a trailing ---
    try {
      out.push({ kind: 'object', object: parseObject(data, { defaultNamespace }), document });
    } catch (error) {
      const message = error instanceof ValidationError ? error.message : String(error);
      const target = targetOf(data, defaultNamespace);
      out.push({ kind: 'error', error: { file, document, object: objectLabel(data, defaultNamespace), message, ...(target ? { target } : {}) } });
    }
  });
  return out;
}

/**
 * Reads every YAML document of every `.yaml`/`.yml` file under `dir` (several documents
 * per file allowed) and validates each against its kind. A bad document is reported
 * with its file and position; the others are still returned.
 */
export async function readManifests(dir: string, options: { defaultNamespace?: string; cache?: ManifestCache } = {}): Promise<Manifests> {
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const result: Manifests = { objects: [], errors: [] };
  const seen = new Map<string, string>();
  const files = await yamlFiles(dir);
  const present = new Set(files);
  if (options.cache) for (const path of options.cache.keys()) if (!present.has(path)) options.cache.delete(path);
  for (const path of files) {
    const file = relative(dir, path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      // Removed or renamed between listing and reading (an editor saving, a git checkout): the next read sees the result.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const cached = options.cache?.get(path);
    const parsed = cached?.text === text ? cached.parsed : parseFile(file, text, defaultNamespace);
    options.cache?.set(path, { text, parsed });
    for (const entry of parsed) {
      if (entry.kind === 'error') {
        result.errors.push(entry.error);
        continue;
      }
      const { object, document } = entry;
      const key = `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
      const earlier = seen.get(key);
      if (earlier) {
        result.errors.push({ file, document, object: key, message: `${key} is declared twice (also in ${earlier})` });
        continue;
      }
      seen.set(key, file);
      result.objects.push({ object, file, document });
    }
  }
  return result;
}
