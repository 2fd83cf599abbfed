// Locates libtorch for the native build. Prints one field (include|lib|libs) for binding.gyp.
// Order: $LIBTORCH (a prefix with include/ and lib/), then Debian's multiarch layout.
// On failure it names every path it tried, so a broken install is diagnosable from the log.
'use strict';
const fs = require('fs');
const path = require('path');

function candidates() {
  const out = [];
  if (process.env.LIBTORCH) {
    const p = process.env.LIBTORCH;
    out.push({ include: [path.join(p, 'include'), path.join(p, 'include/torch/csrc/api/include')], lib: path.join(p, 'lib') });
    return out; // an explicit LIBTORCH is never silently replaced by the system copy
  }
  for (const arch of ['x86_64-linux-gnu', 'aarch64-linux-gnu']) {
    out.push({ include: ['/usr/include', '/usr/include/torch/csrc/api/include'], lib: `/usr/lib/${arch}` });
  }
  return out;
}

function versionOf(includeDirs) {
  for (const d of includeDirs) {
    const f = path.join(d, 'torch/version.h');
    if (fs.existsSync(f)) {
      const src = fs.readFileSync(f, 'utf8');
      const major = /TORCH_VERSION_MAJOR\s+(\d+)/.exec(src);
      const minor = /TORCH_VERSION_MINOR\s+(\d+)/.exec(src);
      if (major && minor) return [Number(major[1]), Number(minor[1])];
    }
  }
  return null;
}

function find() {
  const tried = [];
  for (const c of candidates()) {
    const header = c.include.map((d) => path.join(d, 'torch/torch.h')).find((f) => fs.existsSync(f));
    const lib = ['libtorch.so', 'libtorch_cpu.so', 'libc10.so'].map((n) => path.join(c.lib, n));
    tried.push(...c.include.map((d) => path.join(d, 'torch/torch.h')), ...lib);
    if (header && lib.every((f) => fs.existsSync(f))) {
      const v = versionOf(c.include);
      if (!v) throw new Error(`libtorch found at ${c.lib} but torch/version.h is unreadable`);
      if (v[0] < 1 || (v[0] === 1 && v[1] < 13)) {
        throw new Error(`libtorch ${v.join('.')} at ${c.lib} is too old: Tessera needs >= 1.13`);
      }
      const hasCuda = fs.existsSync(path.join(c.lib, 'libtorch_cuda.so')) || fs.existsSync(path.join(c.lib, 'libc10_cuda.so'));
      return { ...c, version: v, hasCuda };
    }
  }
  throw new Error("libtorch not found. Set LIBTORCH=<prefix> or install Debian's libtorch-dev. Tried:\n  " + tried.join('\n  '));
}

if (require.main === module) {
  try {
    const r = find();
    const what = process.argv[2];
    if (what === 'include') console.log(r.include.join(' '));
    else if (what === 'lib') console.log(r.lib);
    else if (what === 'libs') console.log(['-ltorch', '-ltorch_cpu', '-lc10', ...(r.hasCuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])].join(' '));
    else if (what === 'defines') console.log(r.hasCuda ? 'TESSERA_CUDA=1' : 'TESSERA_CUDA=0');
    else console.log(JSON.stringify(r, null, 2));
  } catch (e) {
    console.error('tessera native build: ' + e.message);
    process.exit(1);
  }
}
module.exports = { find };
