import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';

/** The last commit that changed a file, as `git log` reports it. */
export interface FileCommit {
  commit: string;
  author: string;
  date: string;
  /** Path inside the repository, which with the commit is what `git show` needs. */
  path: string;
  /** The working copy differs from that commit (edited, or never committed). */
  uncommitted: boolean;
}

function git(cwd: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    // execFile, not a shell: file names go to git as arguments, never through a command line.
    execFile('git', args, { cwd, encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' } }, (error, stdout) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout) });
    });
  });
}

/**
 * Commit, author and date of each declaration file's last change, when the folder is a git
 * checkout. Answers are cached per HEAD and file modification, so an idle pass runs one git
 * command, not one per file.
 */
export class GitHistory {
  readonly root: string;
  private head: string | undefined;
  private readonly cache = new Map<string, { stamp: string; info: FileCommit | undefined }>();

  private constructor(root: string) {
    this.root = root;
  }

  /** The checkout holding `dir`, or undefined (quietly) when it is not one or git is not installed. */
  static async open(dir: string): Promise<GitHistory | undefined> {
    const { code, stdout } = await git(dir, ['rev-parse', '--show-toplevel']);
    return code === 0 && stdout.trim() ? new GitHistory(stdout.trim()) : undefined;
  }

  /** Re-reads HEAD; call once per pass before `lastChange`. */
  async refresh(): Promise<void> {
    const { code, stdout } = await git(this.root, ['rev-parse', '--verify', '--quiet', 'HEAD']);
    this.head = code === 0 ? stdout.trim() : undefined;
  }

  async lastChange(file: string): Promise<FileCommit | undefined> {
    let stamp: string;
    try {
      const s = await stat(file);
      stamp = `${this.head}:${s.mtimeMs}:${s.size}`;
    } catch {
      return undefined;
    }
    const cached = this.cache.get(file);
    if (cached?.stamp === stamp) return cached.info;
    const info = await this.lookup(file);
    this.cache.set(file, { stamp, info });
    return info;
  }

  private async lookup(file: string): Promise<FileCommit | undefined> {
    const path = relative(this.root, file);
    if (!this.head) return { commit: '', author: '', date: '', path, uncommitted: true };
    const log = await git(this.root, ['log', '-1', '--format=%H%x1f%an <%ae>%x1f%aI', 'HEAD', '--', path]);
    if (log.code !== 0) return undefined;
    const [commit = '', author = '', date = ''] = log.stdout.trim().split('\x1f');
    if (!commit) return { commit: '', author: '', date: '', path, uncommitted: true };
    const changed = await git(this.root, ['diff', '--quiet', 'HEAD', '--', path]);
    return { commit, author, date, path, uncommitted: changed.code !== 0 };
  }
}
