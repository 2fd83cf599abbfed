// The op bindings are generated from native/ops.def by native/gen-ops.mjs: the committed TypeScript
// wrappers (src/torch/ops.generated.ts) and the C++ the addon is compiled from (native/generated/,
// written by `npm run build:native`, not committed). These tests regenerate them in memory (nothing
// is written, the addon is not rebuilt), compare with the files on disk, and check that the loaded
// addon exports exactly the ops of the current table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { native } from '../src/torch/tensor.js';
import { repoRoot } from './helpers.js';

type GenerateOps = (defText: string) => Record<string, string>;
const genUrl = pathToFileURL(join(repoRoot, 'native', 'gen-ops.mjs')).href;
const { generateOps } = (await import(genUrl)) as { generateOps: GenerateOps };
const defText = readFileSync(join(repoRoot, 'native', 'ops.def'), 'utf8');

/** Op names (the JS name: alias or C++ name) of every non-comment line of an ops.def text. */
function opNames(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^\S+\s+(?:(\w+)\s*=\s*)?(\w+)\(/.exec(l);
      assert.ok(m, `unparsable ops.def line: ${l}`);
      return m[1] ?? m[2]!;
    });
}

/** The first differing line of two texts, for a readable failure. */
function firstDiff(want: string, got: string): string {
  const [a, b] = [want.split('\n'), got.split('\n')];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}:\n  generated: ${a[i] ?? '<end of file>'}\n  on disk:   ${b[i] ?? '<end of file>'}`;
  }
  return 'identical';
}

test('the generated bindings on disk are byte-identical to a fresh generation from native/ops.def', () => {
  const files = generateOps(defText);
  assert.deepEqual(Object.keys(files).sort(), [
    'native/generated/ops_0.cpp',
    'native/generated/ops_1.cpp',
    'native/generated/ops_2.cpp',
    'native/generated/ops_index.cpp',
    'src/torch/ops.generated.ts',
  ]);
  for (const [rel, text] of Object.entries(files)) {
    assert.ok(existsSync(join(repoRoot, rel)), `${rel} is missing: run \`npm run build:native\``);
    const onDisk = readFileSync(join(repoRoot, rel), 'utf8');
    assert.ok(text === onDisk, `${rel} is out of date with native/ops.def (run \`npm run build:native\`); ${firstDiff(text, onDisk)}`);
  }
});

test('generation is deterministic and follows every change to the table', () => {
  assert.deepEqual(generateOps(defText), generateOps(defText));
  // One more op changes the C++ part it lands in and the TypeScript wrappers, so the check above can fail.
  const extra = generateOps(`${defText}\nfm   sinc(Tensor self) -> Tensor\n`);
  const base = generateOps(defText);
  assert.match(extra['src/torch/ops.generated.ts']!, /function sinc\(self: Tensor\): Tensor/);
  assert.doesNotMatch(base['src/torch/ops.generated.ts']!, /function sinc\(/);
  const changedCpp = Object.keys(base).filter((k) => k.endsWith('.cpp') && base[k] !== extra[k]);
  assert.equal(changedCpp.length, 1, `one C++ part changes, got ${changedCpp.join(', ')}`);
  assert.match(extra[changedCpp[0]!]!, /static Napi::Value op_sinc\(/);
});

test('a malformed ops.def line is rejected with its line number', () => {
  assert.throws(() => generateOps('# header\nfm   relu(Tensor self) Tensor\n'), /^Error: ops\.def:2: cannot parse/);
  assert.throws(() => generateOps('fm   relu(Tensor self, Widget w) -> Tensor\n'), /unknown type Widget/);
});

test('the loaded addon exports exactly the ops of native/ops.def plus the hand-written functions', () => {
  const ops = opNames(defText);
  assert.equal(new Set(ops).size, ops.length, 'duplicate op names in ops.def');
  // Hand-written functions: the `{"name", Fn}` table in native/core.cpp's Init, and the two classes.
  const core = readFileSync(join(repoRoot, 'native', 'core.cpp'), 'utf8');
  const table = /Entry fns\[\] = \{([\s\S]*?)\n {2}\};/.exec(core);
  assert.ok(table, 'native/core.cpp: function table not found');
  const handWritten = [...table[1]!.matchAll(/\{"(\w+)",\s*\w+\}/g)].map((m) => m[1]!);
  assert.ok(handWritten.length > 10, `parsed only ${handWritten.length} hand-written functions`);
  const expected = new Set([...ops, ...handWritten, 'NativeTensor', 'NativeGenerator']);
  const exported = new Set(Object.keys(native as object));
  const missing = [...expected].filter((n) => !exported.has(n));
  const extra = [...exported].filter((n) => !expected.has(n));
  assert.deepEqual(missing, [], `the addon lacks ${missing.join(', ')}: it is older than native/ops.def or core.cpp — run \`npm run build:native\``);
  assert.deepEqual(extra, [], `the addon exports ${extra.join(', ')}, which nothing declares: rebuild with \`npm run build:native\``);
  for (const n of ops) assert.equal(typeof (native as Record<string, unknown>)[n], 'function', n);
});
