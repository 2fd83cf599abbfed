// `tessera demo` (the README's main job) writes what it promises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './helpers.js';

test('tessera demo writes reconstructions, a token round trip and a model file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-demo-'));
  try {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist/src/cli/main.js'), 'demo', '--out', dir, '--steps', '20'], {
      encoding: 'utf8',
      env: { ...process.env, TESSERA_CACHE: join(dir, 'cache') },
    });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['reconstructions.png', 'digit.png', 'digit.decoded.png', 'digit.tokens.json', 'run/model.safetensors', 'run/loss.svg']) {
      assert.ok(existsSync(join(dir, f)), `missing ${f}`);
    }
    const tokens = JSON.parse(readFileSync(join(dir, 'digit.tokens.json'), 'utf8')) as { shape: number[]; indices: number[] };
    assert.deepEqual(tokens.shape, [7, 7]);
    assert.equal(tokens.indices.length, 49);
    assert.ok(tokens.indices.every((i) => Number.isInteger(i) && i >= 0 && i < 512));
    assert.match(r.stdout, /held-out digits: PSNR [\d.]+ dB/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
