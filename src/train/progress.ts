// Progress reporting for training runs: a one-line bar on a terminal, plain periodic lines
// elsewhere (CI logs, pipes), and a JSONL log with every record.
import { appendFileSync } from 'node:fs';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

function formatValue(key: string, v: number): string {
  if (key.endsWith('use') || key === 'utilization') return `${(v * 100).toFixed(1)}%`;
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toFixed(4);
}

export interface ProgressOptions {
  total: number;
  /** Where lines go (default process.stderr). */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  /** On a non-TTY stream, print one line every this many steps. */
  every?: number;
}

/** Step counter with it/s and ETA measured over the steps run in this process. */
export class Progress {
  readonly #total: number;
  readonly #stream: { write(s: string): unknown; isTTY?: boolean };
  readonly #every: number;
  #startStep = -1;
  #startTime = 0;
  #lastLen = 0;

  constructor(opts: ProgressOptions) {
    this.#total = opts.total;
    this.#stream = opts.stream ?? process.stderr;
    this.#every = opts.every ?? 50;
  }

  /** Reports that `step` steps are done, with the latest metrics. */
  update(step: number, metrics: Record<string, number>): void {
    const now = performance.now();
    if (this.#startStep < 0) {
      // The first step includes warm-up (allocations, kernel selection): measure from its end.
      this.#startStep = step;
      this.#startTime = now;
    }
    const done = step - this.#startStep;
    const rate = done > 0 ? done / ((now - this.#startTime) / 1000) : NaN;
    const eta = (this.#total - step) / rate;
    const pct = Math.min(1, step / this.#total);
    const parts = Object.entries(metrics).map(([k, v]) => `${k} ${formatValue(k, v)}`);
    const head = `step ${step}/${this.#total}`;
    const tail = `${Number.isFinite(rate) ? rate.toFixed(2) : '?'} it/s | ETA ${formatDuration(eta)}`;
    if (this.#stream.isTTY) {
      const width = 20;
      const filled = Math.round(pct * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      const line = `${head} ${bar} ${(pct * 100).toFixed(0)}% | ${parts.join(' ')} | ${tail}`;
      this.#stream.write(`\r${line}${' '.repeat(Math.max(0, this.#lastLen - line.length))}`);
      this.#lastLen = line.length;
      if (step >= this.#total) this.#stream.write('\n');
    } else if (step % this.#every === 0 || step === this.#total || done === 0) {
      this.#stream.write(`${head} | ${parts.join(' ')} | ${tail}\n`);
    }
  }

  /** Prints a message on its own line without breaking the bar. */
  note(message: string): void {
    if (this.#stream.isTTY && this.#lastLen > 0) {
      this.#stream.write(`\r${' '.repeat(this.#lastLen)}\r`);
      this.#lastLen = 0;
    }
    this.#stream.write(`${message}\n`);
  }
}

/** Appends one JSON object per line. */
export class JsonlLog {
  constructor(readonly path: string) {}
  write(record: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
  }
}
