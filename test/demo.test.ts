// `tessera demo` (the README's main job) writes what it promises, from the shipped models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { repoRoot } from './helpers.js';

test('tessera demo writes sample grids, an inpainting example and reconstructions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-demo-'));
  try {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist/src/cli/main.js'), 'demo', '--out', dir], {
      encoding: 'utf8',
      env: { ...process.env, TESSERA_CACHE: join(dir, 'cache') },
    });
    assert.equal(r.status, 0, r.stderr);
    const files = [
      'samples-mnist-maskgit.png',
      'samples-mnist-ar.png',
      'samples-mnist-vqvae2.png',
      'samples-mnist-diffusion.png',
      'samples-emoji-maskgit.png',
      'samples-emoji-vit-ar.png',
      'inpaint-mnist.png',
      'reconstructions-mnist.png',
      'reconstructions-emoji.png',
      'reconstructions-emoji-vit.png',
      'compress-mnist.png',
    ];
    for (const f of files) {
      assert.ok(existsSync(join(dir, f)), `missing ${f}`);
      assert.match(r.stdout, new RegExp(f.replace('.', '\\.')));
    }
    // One row of 8 samples per digit (28 px + 2 px padding per cell).
    const m = await sharp(join(dir, 'samples-mnist-maskgit.png')).metadata();
    assert.equal(m.width, 8 * 30 + 2);
    assert.equal(m.height, 10 * 30 + 2);
    // The ViT-VQGAN emoji: one row per category at 64 px (+ 2 px padding per cell).
    const v = await sharp(join(dir, 'samples-emoji-vit-ar.png')).metadata();
    assert.equal(v.width, 8 * 66 + 2);
    assert.equal(v.height, 10 * 66 + 2);
    const inp = await sharp(join(dir, 'inpaint-mnist.png')).metadata();
    assert.equal(inp.height, 3 * 30 + 2);
    // Compression: prior coding takes fewer bytes than the 49 plain 8-bit indices.
    const c = /decompressed from ([\d.]+) bytes each .*uniform coding ([\d.]+) bytes/.exec(r.stdout);
    assert.ok(c && Number(c[1]) < Number(c[2]), r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tessera demo names the missing models instead of failing obscurely', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-demo-'));
  try {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist/src/cli/main.js'), 'demo', '--out', dir, '--models', dir], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /missing in .*: mnist-maskgit\.safetensors, mnist-ar\.safetensors, mnist-vqvae2\.safetensors, mnist-diffusion\.safetensors, emoji-maskgit\.safetensors, emoji-vit-ar\.safetensors/,
    );
    assert.equal(r.stderr.trim().split('\n').length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
