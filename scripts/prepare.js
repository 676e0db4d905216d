// npm's "prepare": run by `npm install`/`npm ci` in the checkout, and by npm when it packs this
// folder as someone else's dependency (a git dependency, or `file:` with install-links, as
// examples/pulumi does). The two want different things:
// - packed as a dependency (npm sets npm_package_resolved): build dist/, or the package would
//   have no JavaScript;
// - in the checkout: only make dist/bin/gatehouse.js, the package's bin, a link to bin/gatehouse.js
//   when there is no build, so `npx gatehouse` runs the sources without a build step (a build
//   replaces the link). Building on every install would cost tens of seconds and leave a dist/
//   that goes stale with the next edit.
import { execSync } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync } from 'node:fs';

if (process.env.npm_package_resolved) {
  execSync('npm run build', { stdio: 'inherit' });
} else {
  for (const bin of ['gatehouse.js', 'pulumi-resource-gatehouse.js']) {
    try {
      lstatSync(`dist/bin/${bin}`);
    } catch {
      mkdirSync('dist/bin', { recursive: true });
      symlinkSync(`../../bin/${bin}`, `dist/bin/${bin}`);
    }
  }
}
