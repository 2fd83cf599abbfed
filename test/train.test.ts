// The shared training loop: exact resume, atomic checkpoints, logs without duplicates, divergence
// stops without saving, SIGTERM saves like Ctrl-C; run-folder locks; structural config comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { Adam, EMA, warmupCosine } from '../src/optim/index.js';
import { DivergedError, SIGNAL_EXIT, runTraining, readLog, type Trainable } from '../src/train/run.js';
import { checkpointMismatch } from '../src/train/config.js';
import { RUN_LOCK_FILE, RunLockedError, lockRun } from '../src/io/run-lock.js';
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
    assert.deepEqual(
      steps,
      Array.from({ length: 12 }, (_, i) => i + 1),
      'log has each step once',
    );
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
    assert.throws(() => loadCheckpoint(path, { modules: { net: other } }), /unexpected key|missing key|size mismatch/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Toy whose loss turns NaN from step `nanFrom` (0-based) on, as a too-large learning rate would. */
class Diverging extends Toy {
  written = 0;
  constructor(readonly nanFrom: number) {
    super();
  }
  writeModel(): void {
    this.written++;
  }
  override trainStep(): Record<string, number> {
    const m = super.trainStep();
    if (this.cursor > this.nanFrom) {
      T.noGrad(() => this.net.parameters()[0]!.fill_(NaN));
      return { loss: NaN };
    }
    return m;
  }
}

test('a non-finite loss stops training with an error; the last good checkpoint stays and no NaN model is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-train-'));
  try {
    const t = new Diverging(3);
    await assert.rejects(
      runTraining(t, { outDir: dir, steps: 10, log: quiet, checkpointEvery: 2, imageEvery: 100 }),
      (e: Error) =>
        e instanceof DivergedError &&
        /training diverged: the loss is NaN at step 4; .*the checkpoint of step 2 is kept.*--lr/.test(e.message) &&
        !e.message.includes('\n'),
    );
    assert.equal(t.written, 1, 'the model was written at the good checkpoint only');
    // The checkpoint on disk is step 2's, loadable and finite.
    const fresh = new Toy();
    assert.equal(loadCheckpoint(join(dir, 'checkpoint.safetensors'), fresh.checkpointParts()).step, 2);
    assert.ok(weights(fresh).every(Number.isFinite));
    assert.deepEqual(
      readLog(join(dir, 'log.jsonl')).map((r) => r.step),
      [1, 2, 3],
      'the diverged step is not logged',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('non-finite weights are never saved, even when the loss of that step was finite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-train-'));
  try {
    const t = new Toy();
    const step = t.trainStep.bind(t);
    // The update of step 2 overflows the weights; its loss (computed before the update) is finite.
    t.trainStep = () => {
      const m = step();
      if (t.cursor === 2) T.noGrad(() => t.net.parameters()[0]!.fill_(Infinity));
      return m;
    };
    await assert.rejects(
      runTraining(t, { outDir: dir, steps: 10, log: quiet, checkpointEvery: 2, imageEvery: 100 }),
      /training diverged: net\.0\.weight is not finite after step 2; nothing of it was saved/,
    );
    assert.ok(!existsSync(join(dir, 'checkpoint.safetensors')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM saves a checkpoint after the current step, like Ctrl-C, and reports which signal stopped the run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-train-'));
  try {
    const t = new Toy();
    const step = t.trainStep.bind(t);
    t.trainStep = () => {
      if (t.cursor === 2) process.kill(process.pid, 'SIGTERM');
      return step();
    };
    let signal: string | undefined;
    const stopped = await runTraining(t, { outDir: dir, steps: 100, log: quiet, checkpointEvery: 50, imageEvery: 100, onSignal: (s) => (signal = s) });
    assert.equal(signal, 'SIGTERM');
    assert.equal(SIGNAL_EXIT.SIGTERM, 143);
    assert.ok(stopped >= 3 && stopped < 100, `stopped at ${stopped}`);
    assert.equal(loadCheckpoint(join(dir, 'checkpoint.safetensors'), new Toy().checkpointParts()).step, stopped);
    assert.equal(process.listenerCount('SIGTERM'), 0, 'the handler is removed after the run');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run folder is locked by one live process; a stale lock from a dead process is taken over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-lock-'));
  try {
    const lock = lockRun(dir, 'training');
    assert.throws(
      () => lockRun(dir, 'training'),
      (e: Error) =>
        e instanceof RunLockedError &&
        e.holderPid === process.pid &&
        new RegExp(`^${dir} is in use by another process \\(pid ${process.pid}, training since `).test(e.message),
    );
    lock.release();
    assert.ok(!existsSync(join(dir, RUN_LOCK_FILE)));
    // A lock left by a process that no longer exists (a child that has exited).
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(dir, RUN_LOCK_FILE), JSON.stringify({ pid: dead, host: hostname(), started: 'then', what: 'training' }));
    const taken = lockRun(dir, 'eval');
    assert.equal(JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8')).pid, process.pid);
    taken.release();
    assert.deepEqual(readdirSync(dir), [], 'no lock or temp files left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('configs compare structurally: key order is irrelevant, only --steps may grow', () => {
  const saved = { arch: 'vqvae', model: { ch: 8, quantizer: { type: 'vq', codebookSize: 8 } }, steps: 4, lr: 1e-3 };
  assert.equal(checkpointMismatch(saved, { lr: 1e-3, steps: 4, model: { quantizer: { codebookSize: 8, type: 'vq' }, ch: 8 }, arch: 'vqvae' }), undefined);
  assert.equal(checkpointMismatch(saved, { ...saved, steps: 9 }), undefined);
  assert.equal(checkpointMismatch(saved, { ...saved, steps: 3 }), 'steps');
  assert.equal(checkpointMismatch(saved, { ...saved, model: { ch: 8, quantizer: { type: 'vq', codebookSize: 16 } } }), 'model.quantizer.codebookSize');
});
