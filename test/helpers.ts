// Shared test utilities: fixture loading and numeric comparison.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';
import { Tensor, tensor, type DType } from '../src/torch/index.js';

/** Repository root (works from dist/test and test/). */
export const repoRoot = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!d.endsWith('/dist') && d !== '/') d = dirname(d);
  return d === '/' ? dirname(dirname(fileURLToPath(import.meta.url))) : dirname(d);
})();

export const fixturePath = (...parts: string[]): string => join(repoRoot, 'test', 'fixtures', ...parts);

/** JSON fixture written by tools/fixtures/*.py. Tensors there are {shape, dtype, data}. */
export function loadJsonFixture<T = Record<string, unknown>>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixturePath(...parts), 'utf8')) as T;
}

export interface TensorJson {
  shape: number[];
  dtype: string;
  data: number[];
}
export function fromJson(t: TensorJson): Tensor {
  return tensor(t.data, { shape: t.shape, dtype: t.dtype as DType });
}

/** Max |a - b| over all elements, after broadcasting b to a's shape check. */
export function maxAbsDiff(a: Tensor, b: Tensor | TensorJson | number[]): number {
  const bb = b instanceof Tensor ? b : Array.isArray(b) ? tensor(b) : fromJson(b);
  assert.deepEqual(a.shape, bb.shape, `shape mismatch: [${a.shape}] vs [${bb.shape}]`);
  return a.double().sub(bb.double()).abs().max().item();
}

/**
 * Elementwise |a - b| <= atol + rtol·|b|, like torch.testing.assert_close: a NaN matches only a NaN
 * and ±Inf only the same infinity, so a non-finite value on one side (and not the other) always fails.
 */
export function assertClose(a: Tensor, b: Tensor | TensorJson | number[], atol = 1e-5, rtol = 1e-5, what = ''): void {
  const bb = b instanceof Tensor ? b : Array.isArray(b) ? tensor(b) : fromJson(b);
  assert.deepEqual(a.shape, bb.shape, `${what} shape mismatch: [${a.shape}] vs [${bb.shape}]`);
  const ad = a.detach().double();
  const bd = bb.detach().double();
  const finite = ad.isfinite().logicalAnd(bd.isfinite());
  const diff = ad.sub(bd).abs();
  const tol = bd.abs().mul(rtol).add(atol);
  const sameNonFinite = ad.eq(bd).logicalOr(ad.isnan().logicalAnd(bd.isnan()));
  const ok = finite.logicalAnd(diff.le(tol)).logicalOr(finite.logicalNot().logicalAnd(sameNonFinite));
  const bad = ok.logicalNot().sum().item();
  if (bad > 0) {
    const nonFinite = ok.logicalNot().logicalAnd(finite.logicalNot()).sum().item();
    const first = ok.logicalNot().flatten().nonzero().index(0, 0).item();
    const [x, y] = [ad.flatten().index(first).item(), bd.flatten().index(first).item()];
    const maxFinite = diff.where(finite, 0).max().item();
    assert.fail(
      `${what} ${bad} of ${a.numel} elements differ (${nonFinite} NaN/Inf mismatches); first at flat index ${first}: ${x} vs ${y}; ` +
        `max |diff| over finite pairs = ${maxFinite} (atol ${atol}, rtol ${rtol})`,
    );
  }
}

/** What a CLI run printed and returned. */
export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * A scratch directory for CLI tests (removed after the file's tests) and `tessera(...args)`,
 * which runs the built CLI there with its own dataset cache and `threads` libtorch threads.
 */
export function cliSandbox(prefix: string, opts: { threads?: number } = {}) {
  const tmp = mkdtempSync(join(tmpdir(), `tessera-${prefix}-`));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, TESSERA_CACHE: join(tmp, 'cache'), TESSERA_THREADS: String(opts.threads ?? 1) };
  delete env.TESSERA_DEBUG;
  const mainJs = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const tessera = (...args: string[]): CliRun => {
    const r = spawnSync(process.execPath, [mainJs, ...args], { cwd: tmp, encoding: 'utf8', env });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  return { tmp, env, mainJs, tessera, p: (...parts: string[]): string => join(tmp, ...parts) };
}

/**
 * The one way tests interrupt a CLI run: starts `tessera ...args` (the built CLI) in `cwd` with `env`,
 * waits until `ready()` holds (e.g. the first checkpoint exists; 60 s at most), sends `signal`
 * (Ctrl-C's SIGINT by default, or SIGTERM) and resolves with the exit code and what was printed.
 */
export async function interruptCli(
  run: { mainJs: string; tmp: string; env: NodeJS.ProcessEnv },
  args: readonly string[],
  ready: () => boolean,
  signal: 'SIGINT' | 'SIGTERM' = 'SIGINT',
): Promise<CliRun> {
  const child = spawn(process.execPath, [run.mainJs, ...args], { cwd: run.tmp, env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const t0 = Date.now();
  while (!ready()) {
    if (child.exitCode !== null) assert.fail(`the run ended before it was interrupted (exit ${child.exitCode}):\n${err}`);
    if (Date.now() - t0 > 60_000) {
      child.kill('SIGKILL');
      assert.fail(`the run did not get ready in 60 s:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill(signal);
  return { code: await exited, out, err };
}

/** An expected CLI error: exit code, exactly one line on stderr, no stack trace. */
export function assertCliError(r: CliRun, code: number, re: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.err})`);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.err}`);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.err, /\n\s+at /);
}
