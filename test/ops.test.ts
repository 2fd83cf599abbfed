// Every case in test/fixtures/ops/ops.json (written by tools/fixtures/ops.py from PyTorch 1.13) run
// through Tessera: outputs, dtypes, in-place effects and the input gradients of Σ (out_k · r_k).
// The call is derived from the fixture (T[op](...args), or args[0][op](...rest) for method-only ops),
// so adding a case is one `case(...)` line in the Python script; this file only holds the
// tolerances that differ from the default, each with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { fromJson, loadJsonFixture, repoRoot, type TensorJson } from './helpers.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Case {
  name: string;
  op: string;
  args: Json[];
  inputs: TensorJson[];
  out: Json;
  method?: boolean;
  seed?: number;
  signfix?: Record<string, 'cols' | 'rows'>;
  shapeOnly?: boolean;
  mutated?: Record<string, TensorJson>;
  r?: (TensorJson | null)[];
  grads?: Record<string, TensorJson | null>;
}
const fixture = loadJsonFixture<{ torch: string; cases: Case[] }>('ops', 'ops.json');

interface Tol {
  atol: number;
  rtol: number;
}
// Default: 1e-5 (abs and rel) for float32. Both sides run the same libtorch kernels, so most
// results agree to the last bit; the tolerance only absorbs summation-order differences from
// thread counts. Other dtypes scale with their precision.
const DTYPE_TOL: Record<string, Tol> = {
  float32: { atol: 1e-5, rtol: 1e-5 },
  float64: { atol: 1e-12, rtol: 1e-12 },
  float16: { atol: 1e-3, rtol: 1e-3 }, // half ulp at 1 is 2^-11 ≈ 4.9e-4
  bfloat16: { atol: 8e-3, rtol: 8e-3 }, // bfloat16 ulp at 1 is 2^-7 ≈ 7.8e-3
};
// Looser tolerances by op (float outputs and gradients); every entry says why.
const OP_TOL: Record<string, Tol> = {};
// Looser tolerances by case name.
const CASE_TOL: Record<string, Tol> = {};

function tolFor(c: Case, dtype: string): Tol {
  if (!(dtype in DTYPE_TOL)) return { atol: 0, rtol: 0 }; // integers and bools are exact
  const base = DTYPE_TOL[dtype]!;
  const extra = CASE_TOL[c.name] ?? OP_TOL[c.op];
  return extra && dtype !== 'float64' ? { atol: Math.max(base.atol, extra.atol), rtol: Math.max(base.rtol, extra.rtol) } : base;
}

// ---------------------------------------------------------------- decoding and calling
function decode(a: Json, inputs: T.Tensor[]): unknown {
  if (Array.isArray(a)) return a.map((x) => decode(x, inputs));
  if (a !== null && typeof a === 'object') {
    if ('$t' in a) return inputs[a.$t as number];
    if ('$gen' in a) return new T.Generator(a.$gen as number);
    if ('$num' in a) return Number(a.$num);
    return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, decode(v, inputs)]));
  }
  return a;
}

const API = T as unknown as Record<string, unknown>;
function call(c: Case, args: unknown[]): unknown {
  const fn = API[c.op];
  if (!c.method && typeof fn === 'function') return (fn as (...a: unknown[]) => unknown)(...args);
  const [self, ...rest] = args;
  const m = (self as Record<string, unknown>)[c.op];
  if (typeof m !== 'function') throw new Error(`fixture op '${c.op}' is neither an exported function nor a Tensor method`);
  return (m as (...a: unknown[]) => unknown).apply(self, rest);
}

/** Eigen/singular vectors up to sign: the largest-|·| entry of each column (or row) made positive (as ops.py). */
function fixSigns(v: T.Tensor, how: 'cols' | 'rows'): T.Tensor {
  const m = how === 'cols' ? v : v.transpose(-2, -1);
  const idx = m.abs().argmax(-2, true);
  const fixed = m.mul(T.gather(m, -2, idx).sign());
  return how === 'cols' ? fixed : fixed.transpose(-2, -1);
}

// ---------------------------------------------------------------- comparison
function closeEnough(a: number, e: number, tol: Tol): boolean {
  if (Number.isNaN(e)) return Number.isNaN(a);
  if (!Number.isFinite(e)) return a === e;
  return Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
}

function expectTensor(c: Case, actual: unknown, exp: TensorJson, what: string): void {
  assert.ok(actual instanceof T.Tensor, `${what}: expected a Tensor, got ${String(actual)}`);
  assert.deepEqual(actual.shape, exp.shape, `${what}: shape`);
  assert.equal(actual.dtype, exp.dtype, `${what}: dtype`);
  if (c.shapeOnly) return;
  const tol = tolFor(c, exp.dtype);
  const a = actual.toArray();
  const e = exp.data.map(Number); // 'NaN' / 'Infinity' arrive as strings
  let bad = 0;
  let first = -1;
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    if (!closeEnough(a[i]!, e[i]!, tol)) {
      bad++;
      if (first < 0) first = i;
      if (Number.isFinite(e[i]!)) worst = Math.max(worst, Math.abs(a[i]! - e[i]!));
    }
  }
  if (bad > 0) {
    assert.fail(
      `${what}: ${bad} of ${e.length} elements differ (atol ${tol.atol}, rtol ${tol.rtol}); ` +
        `first at flat index ${first}: got ${a[first]}, want ${e[first]}; max |diff| ${worst}`,
    );
  }
}

function expectValue(c: Case, actual: unknown, exp: Json, what: string): void {
  if (Array.isArray(exp)) {
    assert.ok(Array.isArray(actual), `${what}: expected an array of ${exp.length}`);
    assert.equal(actual.length, exp.length, `${what}: length`);
    exp.forEach((e, k) => expectValue(c, actual[k], e, `${what}[${k}]`));
  } else if (exp !== null && typeof exp === 'object') {
    expectTensor(c, actual, exp as unknown as TensorJson, what);
  } else if (typeof exp === 'boolean') {
    assert.equal(actual, exp, what);
  } else {
    assert.equal(typeof actual, 'number', `${what}: expected a number`);
    assert.ok(closeEnough(actual as number, Number(exp), { atol: 1e-6, rtol: 1e-6 }), `${what}: got ${String(actual)}, want ${String(exp)}`);
  }
}

// ---------------------------------------------------------------- the cases
for (const c of fixture.cases) {
  test(`${c.op}: ${c.name}`, () => {
    T.tidy(() => {
      const inputs = c.inputs.map(fromJson);
      for (const k of Object.keys(c.grads ?? {})) inputs[Number(k)]!.requiresGrad = true;
      if (c.seed !== undefined) T.manualSeed(c.seed);
      const out = call(c, decode(c.args, inputs) as unknown[]);

      const outs = Array.isArray(c.out) ? (out as unknown[]) : [out];
      const shown = outs.map((o, k) => {
        const how = c.signfix?.[String(k)];
        return how && o instanceof T.Tensor ? fixSigns(o.detach(), how) : o;
      });
      expectValue(c, Array.isArray(c.out) ? shown : shown[0], c.out, 'output');

      for (const [k, want] of Object.entries(c.mutated ?? {})) expectTensor(c, inputs[Number(k)], want, `input ${k} after the call`);

      if (c.grads) {
        let loss: T.Tensor | undefined;
        c.r!.forEach((r, k) => {
          if (!r) return;
          const term = (outs[k] as T.Tensor).mul(fromJson(r)).sum();
          loss = loss ? loss.add(term) : term;
        });
        assert.ok(loss, 'fixture has gradients but no differentiable output');
        loss.backward();
        for (const [k, want] of Object.entries(c.grads)) {
          const g = inputs[Number(k)]!.grad;
          if (want === null) assert.equal(g, undefined, `grad of input ${k}: PyTorch has none`);
          else expectTensor(c, g, want, `grad of input ${k}`);
        }
      }
    });
  });
}

// Every op in the table needs at least one fixture case, or a reason here why it is tested elsewhere.
const TESTED_ELSEWHERE: Record<string, string> = {};

test('every op in native/ops.def has a fixture case', () => {
  const table = readFileSync(join(repoRoot, 'native', 'ops.def'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => /^\S+\s+(?:(\w+)\s*=\s*)?(\w+)\(/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => (m[1] ?? m[2])!);
  // ops.def names are snake_case; fixtures use the JS (camelCase) names.
  const js = (s: string): string => {
    const trail = s.endsWith('_') ? '_' : '';
    return s.replace(/_$/, '').replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase()) + trail;
  };
  const covered = new Set(fixture.cases.map((c) => c.op));
  const missing = table.filter((n) => !covered.has(js(n)) && !(n in TESTED_ELSEWHERE));
  assert.deepEqual(missing, [], `ops without a case in tools/fixtures/ops.py: ${missing.join(', ')}`);
});
