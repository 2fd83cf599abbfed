// `npm test`: runs the compiled test files dist/test/**/*.test.js with node's built-in runner.
// Node 20's `node --test <dir>` also runs every other .js under a `test` directory (helpers,
// fixture scripts) and takes no globs, so the file list is built here from the sources:
// every test/**/*.test.ts must have its compiled counterpart, or the run fails (a test that
// silently does not run is worse than a failing one).
// Usage: npm test [-- [area…] [node --test flags…]]   e.g. npm test -- cli --test-name-pattern=doctor
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'fixtures' || e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const areas = process.argv.slice(2).filter((a) => !a.startsWith('-'));

const sources = walk(join(root, 'test')).sort();
const files = [];
const missing = [];
for (const src of sources) {
  const rel = relative(root, src).replace(/\.ts$/, '.js');
  const area = rel.slice('test/'.length).replace(/\.test\.js$/, '');
  if (areas.length && !areas.includes(area)) continue;
  const js = join(root, 'dist', rel);
  if (!existsSync(js)) missing.push(relative(root, src));
  else {
    if (statSync(src).mtimeMs > statSync(js).mtimeMs) {
      console.error(`warning: ${relative(root, src)} is newer than its build; run \`npm run build:ts\``);
    }
    files.push(relative(root, js));
  }
}
if (missing.length) {
  console.error(`error: not compiled: ${missing.join(', ')}; run \`npm run build:ts\``);
  process.exit(1);
}
if (!files.length) {
  const what = areas.length ? `matching ${areas.join(', ')}` : 'in test/';
  console.error(`error: no test files ${what} (test/**/<area>.test.ts)`);
  process.exit(1);
}

const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...flags, ...files], {
  cwd: root,
  stdio: 'inherit',
});
if (r.error) {
  console.error(`error: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
