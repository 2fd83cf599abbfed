// The loop every trainer shares: steps, progress, JSONL log, periodic images and checkpoints,
// exact resume, and Ctrl-C / SIGTERM that save before exiting. A non-finite loss stops training with
// an error and nothing non-finite is ever saved: the last good checkpoint stays. Model-specific work
// lives in a Trainable.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tidy } from '../torch/index.js';
import { JsonlLog, Progress, formatDuration } from './progress.js';
import { lineChartSvg } from './plot.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointParts } from './checkpoint.js';
import { writeFileAtomic } from '../io/index.js';

export interface Trainable {
  /** One optimization step; returns scalar metrics for the log (called inside tidy). */
  trainStep(step: number): Record<string, number>;
  /** Everything a checkpoint must hold. */
  checkpointParts(): CheckpointParts;
  /** JSON state outside the modules (data-loader position, …), saved in the checkpoint. */
  extraState(): unknown;
  loadExtraState(extra: unknown): void;
  /** Periodic artefacts (reconstruction/sample grids) and the usable model file. */
  writeArtifacts?(dir: string, step: number): void | Promise<void>;
  /** Writes the final model file for use (e.g. EMA weights); called at every checkpoint. */
  writeModel?(dir: string): void;
}

export interface RunOptions {
  outDir: string;
  steps: number;
  resume?: boolean;
  logEvery?: number;
  imageEvery?: number;
  checkpointEvery?: number;
  /** Metric names plotted in loss.svg (default: every metric). */
  plot?: readonly string[];
  /** Printed lines (progress bar goes to stderr). */
  log?: (line: string) => void;
  /** For tests: stop after this many steps in this process, as an interruption would. */
  stopAfter?: number;
  /** Told when a signal stopped the run (after its checkpoint was saved). */
  onSignal?: (signal: StopSignal) => void;
}

/** The signals that stop a run after saving a checkpoint: Ctrl-C, and SIGTERM (timeouts, docker stop, Slurm). */
export type StopSignal = 'SIGINT' | 'SIGTERM';
const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM'];
/** Exit codes after a signal, as a shell reports them (128 + signal number). */
export const SIGNAL_EXIT: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Training produced a non-finite loss or weights; nothing of that step was saved. */
export class DivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DivergedError';
  }
}

/** The first module parameter or EMA average holding NaN/±Inf, as 'model.encoder.conv_in.weight'. */
function nonFiniteTensor(parts: CheckpointParts): string | undefined {
  return tidy(() => {
    for (const [name, m] of Object.entries(parts.modules)) {
      for (const [k, p] of m.namedParameters()) if (!p.isfinite().all().item()) return `${name}.${k}`;
    }
    for (const [name, e] of Object.entries(parts.emas ?? {})) {
      for (const [i, t] of e.shadow.entries()) if (t.dtype.startsWith('float') && !t.isfinite().all().item()) return `EMA ${name}.shadow.${i}`;
    }
    return undefined;
  });
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** Runs (or resumes) training; returns the last step completed. */
export async function runTraining(t: Trainable, opts: RunOptions): Promise<number> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  mkdirSync(opts.outDir, { recursive: true });
  const ckptPath = join(opts.outDir, CHECKPOINT_FILE);
  const logPath = join(opts.outDir, 'log.jsonl');
  let step = 0;
  if (opts.resume) {
    if (!existsSync(ckptPath)) throw new Error(`--resume: no checkpoint at ${ckptPath}`);
    const r = loadCheckpoint(ckptPath, t.checkpointParts());
    step = r.step;
    t.loadExtraState(r.extra);
    truncateLog(logPath, step);
    log(`resumed from ${ckptPath} at step ${step}`);
  } else if (existsSync(ckptPath)) {
    throw new Error(`${opts.outDir} already holds a run (${CHECKPOINT_FILE}); pass --resume to continue it or choose another --out`);
  } else {
    writeFileSync(logPath, '');
  }

  const jsonl = new JsonlLog(logPath);
  const progress = new Progress({ total: opts.steps, every: opts.logEvery ?? 50 });
  const checkpointEvery = opts.checkpointEvery ?? 500;
  const imageEvery = opts.imageEvery ?? 250;
  let signal: StopSignal | undefined;
  const onSignal = (sig: StopSignal) => {
    if (signal) process.exit(SIGNAL_EXIT[sig]); // a second signal: leave now
    signal = sig;
    progress.note(`${sig === 'SIGINT' ? 'interrupt' : 'SIGTERM'}: saving a checkpoint after this step (Ctrl-C again to quit without saving)`);
  };
  const handlers = STOP_SIGNALS.map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  let lastSaved = opts.resume ? step : 0;
  const save = () => {
    const parts = t.checkpointParts();
    const bad = nonFiniteTensor(parts);
    if (bad !== undefined) throw diverged(`${bad} is not finite after step ${step}`);
    saveCheckpoint(ckptPath, step, parts, t.extraState());
    t.writeModel?.(opts.outDir);
    lastSaved = step;
  };
  const diverged = (what: string) =>
    new DivergedError(
      `training diverged: ${what}; nothing of it was saved${lastSaved > 0 ? ` (the checkpoint of step ${lastSaved} is kept)` : ''}. Lower --lr, or check the data`,
    );
  const started = performance.now();
  let ranHere = 0;
  try {
    while (step < opts.steps) {
      const metrics = tidy(() => t.trainStep(step));
      step++;
      if (!Number.isFinite(metrics.loss ?? 0)) throw diverged(`the loss is ${metrics.loss} at step ${step}`);
      ranHere++;
      jsonl.write({ step, time: Date.now(), ...metrics });
      progress.update(step, metrics);
      if (step % imageEvery === 0 || step === opts.steps) {
        await t.writeArtifacts?.(opts.outDir, step);
        writeLossPlot(opts.outDir, logPath, opts.plot);
      }
      if (step % checkpointEvery === 0 || step === opts.steps) save();
      if (signal || (opts.stopAfter !== undefined && ranHere >= opts.stopAfter)) {
        if (step % checkpointEvery !== 0 && step !== opts.steps) save();
        log(`stopped at step ${step}; checkpoint saved — continue with --resume`);
        if (signal) opts.onSignal?.(signal);
        return step;
      }
      // Let signals and other callbacks through after every step: Ctrl-C is only seen here, and
      // "saving after this step" must hold even when a step takes seconds (costs microseconds).
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  log(`done: ${step} steps in ${formatDuration((performance.now() - started) / 1000)}; outputs in ${opts.outDir}`);
  return step;
}

/** Drops log records past the checkpoint's step, so a resumed run's log has no duplicates. */
function truncateLog(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step?: number }).step! <= step;
      } catch {
        return false;
      }
    });
  writeFileSync(path, kept.map((l) => l + '\n').join(''));
}

export function readLog(path: string): Record<string, number>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, number>);
}

/** loss.svg: each metric as a moving average over the log. */
export function writeLossPlot(dir: string, logPath: string, names?: readonly string[]): void {
  const recs = readLog(logPath);
  if (recs.length < 2) return;
  const keys = names ?? Object.keys(recs[recs.length - 1]!).filter((k) => k !== 'step' && k !== 'time');
  const win = Math.max(1, Math.floor(recs.length / 100));
  const series = keys.map((k) => {
    const pts: [number, number][] = [];
    for (let i = win - 1; i < recs.length; i += win) {
      let s = 0;
      let n = 0;
      for (let j = i - win + 1; j <= i; j++) {
        const v = recs[j]![k];
        if (typeof v === 'number' && Number.isFinite(v)) {
          s += v;
          n++;
        }
      }
      if (n) pts.push([recs[i]!.step!, s / n]);
    }
    return { name: k, points: pts };
  });
  // Log scale only when every value is positive (GAN terms can be negative).
  const logY = series.every((s) => s.points.every(([, y]) => y > 0));
  writeFileAtomic(join(dir, 'loss.svg'), new TextEncoder().encode(lineChartSvg(series, { title: 'training', xLabel: 'step', logY })));
}
