// Runs the project's node-gyp with --nodedir pointing at the running Node's installed headers
// (<prefix>/include/node, e.g. /usr on Debian/NodeSource) when they match its version, so the
// native build works offline and does not depend on a `nodedir` line in the user's npmrc.
// Otherwise node-gyp falls back to its header cache / download as usual.
// Also points gyp at /usr/bin/python3 unless a Python is configured.
// Usage: node scripts/node-gyp.mjs <node-gyp args…>   (e.g. rebuild --directory=native -j 2)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function localHeadersPrefix() {
  const prefix = dirname(dirname(process.execPath));
  const h = join(prefix, 'include', 'node', 'node_version.h');
  if (!existsSync(h) || !existsSync(join(prefix, 'include', 'node', 'common.gypi'))) return null;
  const src = readFileSync(h, 'utf8');
  const part = (n) => new RegExp(`#define NODE_${n}_VERSION (\\d+)`).exec(src)?.[1];
  const v = `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
  return v === process.versions.node ? prefix : null;
}

const args = process.argv.slice(2);
const explicit = args.some((a) => a.startsWith('--nodedir')) || process.env.npm_config_nodedir;
const prefix = explicit ? null : localHeadersPrefix();
if (prefix) args.push(`--nodedir=${prefix}`);
// gyp needs a Python 3; prefer the system one over whatever shim (pyenv…) is first on PATH.
const pythonSet = args.some((a) => a.startsWith('--python')) || process.env.npm_config_python || process.env.PYTHON;
if (!pythonSet && existsSync('/usr/bin/python3')) args.push('--python=/usr/bin/python3');

const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
if (r.error) {
  console.error(`node-gyp: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
