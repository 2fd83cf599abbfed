// The shared training loop: exact resume, atomic checkpoints, logs without duplicates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { Adam, EMA, warmupCosine } from '../src/optim/index.js';
import { runTraining, readLog, type Trainable } from '../src/train/run.js';
import { saveCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';

class Toy implements Trainable {
  readonly net = new nn.Sequential(new nn.Linear(4, 16), new nn.Dropout(0.2), new nn.Linear(16, 1));
  readonly opt = new Adam(this.net.parameters(), { lr: 1e-2 });
  readonly sched = warmupCosine(this.opt, { warmupSteps: 3, totalSteps: 12 });
  readonly ema = new EMA(this.net.parameters(), { decay: 0.9 });
  cursor = 0; // stands in for a data loader position
  trainStep(): Record<string, number> {
    // Data and dropout both draw from the default RNG, so resume must restore it.
    const x = T.randn([8, 4]).add(this.cursor++ * 0.01);
    const y = x.sum(1, true);
    this.opt.zeroGrad();
    const loss = T.mseLoss(this.net.forward(x), y);
    loss.backward();
    this.opt.step();
    this.sched.step();
    this.ema.update(this.net.parameters());
    return { loss: loss.item() };
  }
  checkpointParts() {
    return { modules: { net: this.net }, optimizers: { opt: this.opt }, schedulers: { sched: this.sched }, emas: { ema: this.ema } };
  }
  extraState() {
    return { cursor: this.cursor };
  }
  loadExtraState(e: unknown) {
    this.cursor = (e as { cursor: number }).cursor;
  }
}

function weights(t: Toy): number[] {
  return [...t.net.parameters(), ...t.ema.shadow].flatMap((p) => p.toArray());
}

const quiet = () => {};

test('resume after an interruption gives the same weights as an uninterrupted run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-train-'));
  try {
    T.manualSeed(7);
    const a = new Toy();
    await runTraining(a, { outDir: join(dir, 'a'), steps: 12, log: quiet, checkpointEvery: 5, imageEvery: 100 });

    T.manualSeed(7);
    const b1 = new Toy();
    const stopped = await runTraining(b1, { outDir: join(dir, 'b'), steps: 12, log: quiet, checkpointEvery: 5, imageEvery: 100, stopAfter: 7 });
    assert.equal(stopped, 7);
    T.manualSeed(999); // the checkpoint's RNG state must win over whatever the new process has
    T.randn([100]);
    const b2 = new Toy();
    await runTraining(b2, { outDir: join(dir, 'b'), steps: 12, log: quiet, checkpointEvery: 5, imageEvery: 100, resume: true });

    assert.deepEqual(weights(b2), weights(a));
    const steps = readLog(join(dir, 'b', 'log.jsonl')).map((r) => r.step);
    assert.deepEqual(steps, Array.from({ length: 12 }, (_, i) => i + 1), 'log has each step once');
    assert.ok(existsSync(join(dir, 'a', 'loss.svg')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an existing run is not overwritten without --resume, and resume needs a checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-train-'));
  try {
    await runTraining(new Toy(), { outDir: dir, steps: 2, log: quiet });
    await assert.rejects(runTraining(new Toy(), { outDir: dir, steps: 2, log: quiet }), /already holds a run/);
    await assert.rejects(runTraining(new Toy(), { outDir: join(dir, 'none'), steps: 2, log: quiet, resume: true }), /no checkpoint/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoint writes are atomic and a corrupt checkpoint is rejected without touching the model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ckpt-'));
  try {
    const t = new Toy();
    const path = join(dir, 'c.safetensors');
    saveCheckpoint(path, 3, t.checkpointParts(), { cursor: 3 });
    assert.deepEqual(readdirSync(dir), ['c.safetensors'], 'no temp files left behind');
    const bytes = readFileSync(path);
    const before = weights(t);
    writeFileSync(path, bytes.subarray(0, bytes.length - 10));
    assert.throws(() => loadCheckpoint(path, t.checkpointParts()), /./);
    assert.deepEqual(weights(t), before);
    const other = new nn.Linear(3, 3);
    writeFileSync(path, bytes);
    assert.throws(() => loadCheckpoint(path, { modules: { net: other } }), /Unexpected key|Missing key|size mismatch/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
