import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeWatchOptions {
  /** Quiet time after the last event before `onChange` runs: a checkout or an editor's save is many events. */
  debounceMs: number;
  /** Folders not to descend into (dot-folders and node_modules are never read as declarations either). */
  skip?: (name: string) => boolean;
}

export interface TreeWatch {
  /** Watches one more folder without descending (a checkout's `.git`, for commits that change no file); `ignore` filters its entries. */
  also(dir: string, ignore: (name: string) => boolean): void;
  close(): void;
}

const hidden = (name: string) => name.startsWith('.') || name === 'node_modules';

/**
 * Watches every folder of a tree with its own non-recursive `fs.watch`. A folder's watch
 * reports events by entry name, so a file replaced by a rename (`sed -i`, editors'
 * atomic saves, `git checkout`) keeps being seen; recursive `fs.watch` on Linux watches
 * the replaced file's inode and goes silent. After each quiet period the tree is walked
 * again so folders created or removed since gain or lose their watch, then `onChange` runs
 * once, with the paths the events named (undefined when that cannot tell the whole change: a
 * folder came or went, an event named nothing, an extra folder such as `.git` moved).
 */
export function watchTree(root: string, onChange: (changed?: ReadonlySet<string>) => void, options: TreeWatchOptions): TreeWatch {
  const skip = options.skip ?? hidden;
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  /** The paths events named since the last `onChange`; undefined once one could not be told (anything may have changed). */
  let changed: Set<string> | undefined = new Set();

  const schedule = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void settle(), options.debounceMs);
  };
  const add = (dir: string, ignore?: (name: string) => boolean) => {
    if (watchers.has(dir)) return;
    try {
      const watcher = watch(dir, (_event, name) => {
        if (ignore && name && ignore(String(name))) return;
        // An extra folder (a checkout's .git) or an event without a name: no file to point at.
        if (ignore || !name) changed = undefined;
        else changed?.add(join(dir, String(name)));
        schedule();
      });
      // The folder went away (its parent's watch reports that) or the watch limit was hit: the periodic resync still reads it.
      watcher.on('error', () => remove(dir));
      watchers.set(dir, watcher);
    } catch {
      // Gone between listing and watching, or watching unsupported: the periodic resync covers it.
    }
  };
  const remove = (dir: string) => {
    watchers.get(dir)?.close();
    watchers.delete(dir);
  };

  const folders = async (dir: string, out: Set<string>): Promise<void> => {
    out.add(dir);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    await Promise.all(entries.filter((e) => e.isDirectory() && !skip(e.name)).map((e) => folders(join(dir, e.name), out)));
  };
  const extras = new Set<string>();
  /** Brings the watches in line with the tree's folders; true when a folder came or went. */
  const sync = async (): Promise<boolean> => {
    const now = new Set<string>();
    await folders(root, now);
    if (stopped) return false;
    let moved = false;
    for (const dir of now) {
      if (!watchers.has(dir)) moved = true;
      add(dir);
    }
    for (const dir of [...watchers.keys()]) {
      if (!now.has(dir) && !extras.has(dir)) {
        moved = true;
        remove(dir);
      }
    }
    return moved;
  };
  const settle = async () => {
    const folderMoved = await sync();
    if (stopped) return;
    // A folder added, removed or renamed changes files no event named one by one.
    const paths = folderMoved ? undefined : changed;
    changed = new Set();
    onChange(paths);
  };

  // The folders' watches are in place only once the first walk ends, and the caller's first read
  // may come before that: a save in between would go unseen until the resync. So the root is
  // watched at once, and one pass follows the first walk (a pass with nothing new writes nothing).
  add(root);
  void sync().then(() => {
    changed = undefined;
    schedule();
  });
  return {
    also(dir, ignore) {
      if (stopped) return;
      extras.add(dir);
      add(dir, ignore);
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      for (const dir of [...watchers.keys()]) remove(dir);
    },
  };
}
