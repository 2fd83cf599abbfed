// Training checkpoints: everything needed to continue a run bit-exactly — module weights and
// buffers, optimizer and EMA state, LR schedules, the default RNG state, the step, and the caller's
// JSON (data-loader position, config) — in ONE safetensors file, written atomically.
import { existsSync } from 'node:fs';
import { getRngState, setRngState, noGrad, type Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { Optimizer, EMA, OptimizerStateDict, EMAStateDict } from '../optim/index.js';
import type { SchedulerState } from '../optim/lr-scheduler.js';
import { loadSafetensors, saveSafetensors } from '../io/index.js';

/** An LR scheduler: its state is plain JSON (epoch and base learning rates), kept in the metadata. */
interface Schedulable {
  stateDict(): SchedulerState;
  loadStateDict(s: SchedulerState): void;
}

export interface CheckpointParts {
  modules: Record<string, Module>;
  optimizers?: Record<string, Optimizer>;
  schedulers?: Record<string, Schedulable>;
  emas?: Record<string, EMA>;
}

export interface CheckpointMeta {
  format: 'tessera.checkpoint/1';
  step: number;
  optimizers: Record<string, OptimizerStateDict['meta']>;
  schedulers: Record<string, SchedulerState>;
  emas: Record<string, EMAStateDict['meta']>;
  extra: unknown;
}

const FORMAT = 'tessera.checkpoint/1';

export function saveCheckpoint(path: string, step: number, parts: CheckpointParts, extra: unknown = {}): void {
  const tensors: Record<string, Tensor> = {};
  const meta: CheckpointMeta = { format: FORMAT, step, optimizers: {}, schedulers: {}, emas: {}, extra };
  for (const [name, m] of Object.entries(parts.modules)) {
    for (const [k, t] of Object.entries(m.stateDict())) tensors[`module.${name}.${k}`] = t;
  }
  for (const [name, o] of Object.entries(parts.optimizers ?? {})) {
    const sd = o.stateDict();
    for (const [k, t] of Object.entries(sd.state)) tensors[`optim.${name}.${k}`] = t;
    meta.optimizers[name] = sd.meta;
  }
  for (const [name, e] of Object.entries(parts.emas ?? {})) {
    const sd = e.stateDict();
    for (const [k, t] of Object.entries(sd.state)) tensors[`ema.${name}.${k}`] = t;
    meta.emas[name] = sd.meta;
  }
  for (const [name, s] of Object.entries(parts.schedulers ?? {})) meta.schedulers[name] = s.stateDict();
  tensors['rng.default'] = getRngState();
  saveSafetensors(path, tensors, { 'tessera.checkpoint': JSON.stringify(meta) });
  for (const t of Object.values(tensors)) t.dispose();
}

function take(tensors: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = t;
  return out;
}

/** Restores every part in place and the RNG; returns the step and the caller's JSON. */
export function loadCheckpoint(path: string, parts: CheckpointParts): { step: number; extra: unknown } {
  if (!existsSync(path)) throw new Error(`checkpoint not found: ${path}`);
  const { tensors, metadata } = loadSafetensors(path);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata['tessera.checkpoint'] ?? '') as CheckpointMeta;
  } catch {
    throw new Error(`${path}: not a Tessera training checkpoint (no tessera.checkpoint metadata)`);
  }
  if (meta.format !== FORMAT) throw new Error(`${path}: unsupported checkpoint format ${String(meta.format)}`);
  try {
    noGrad(() => {
      for (const [name, m] of Object.entries(parts.modules)) m.loadStateDict(take(tensors, `module.${name}.`), { strict: true });
    });
    for (const [name, o] of Object.entries(parts.optimizers ?? {})) {
      if (!meta.optimizers[name]) throw new Error(`${path}: no state for optimizer '${name}'`);
      o.loadStateDict({ state: take(tensors, `optim.${name}.`), meta: meta.optimizers[name] });
    }
    for (const [name, e] of Object.entries(parts.emas ?? {})) {
      if (!meta.emas[name]) throw new Error(`${path}: no state for EMA '${name}'`);
      e.loadStateDict({ state: take(tensors, `ema.${name}.`), meta: meta.emas[name] });
    }
    for (const [name, s] of Object.entries(parts.schedulers ?? {})) {
      if (meta.schedulers[name] === undefined) throw new Error(`${path}: no state for scheduler '${name}'`);
      s.loadStateDict(meta.schedulers[name]);
    }
    const rng = tensors['rng.default'];
    if (!rng) throw new Error(`${path}: no RNG state`);
    setRngState(rng);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { step: meta.step, extra: meta.extra };
}
