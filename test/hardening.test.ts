// Hostile and malformed input, end to end through the built executable: one table, one row per
// case. Every row checks the exit code; a failing run must print exactly one stderr line that names
// the problem (no stack trace, no raw errno/allocator text, no temp file names, no terminal control
// characters) and leave nothing behind at its --out; no input file may change or appear; size cases
// run under GNU time and must stay under a peak-memory cap. The inputs are built here: model files
// with relabelled dtypes, NaN weights or escape sequences in their metadata and class names, zip
// archives whose storages inflate far beyond their declared sizes, a PNG whose header declares
// 16000×16000 pixels, a 2000×2000 token grid, a run folder held by a live training, and so on.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { ZipReader } from '../src/io/zip.js';
import { cliSandbox, repoRoot, fixturePath, type CliRun } from './helpers.js';

const { tmp, env, mainJs, p } = cliSandbox('hardening');
const model = (name: string): string => join(repoRoot, 'models', name);
const VQ = model('mnist-vqvae.safetensors'); // 3-channel VQ-VAE, f = 4
const MG = model('mnist-maskgit.safetensors'); // MaskGIT on it: 28×28 images, 10 classes '0'–'9'
const TAMING_CKPT = fixturePath('tokenizers', 'taming.ckpt');
const TAMING_YAML = fixturePath('tokenizers', 'taming.yaml');
const TORCH_PTH = fixturePath('metrics', 'inception_head.pth');
const TIME = '/usr/bin/time'; // GNU time (Debian package `time`, installed by scripts/setup.sh)
const MB = 1024; // GNU time reports KiB
/** A tokenizer run small enough to train in about a second. */
const TINY = [
  'train',
  'tokenizer',
  '--arch',
  'vqvae',
  '--data',
  'mnist',
  '--size',
  '8',
  '--batch-size',
  '4',
  '--val-count',
  '4',
  '--ch',
  '8',
  '--codebook-size',
  '8',
];
const HOSTILE = 'pwned\x1b]0;owned\x07\x1b[2J\x1b[H\nfake: line\r\x9b31m\u202eevil';

interface Run extends CliRun {
  /** Peak resident memory of the CLI process in KiB (GNU time), when measured. */
  peakKiB?: number;
}

/** Runs the built CLI in the sandbox under GNU time; a run that hangs is killed after 90 s (a guard, not an assertion). */
function tessera(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Run {
  const rss = p('.rss');
  const timed = existsSync(TIME);
  const [cmd, argv] = timed ? [TIME, ['-f', '%M', '-o', rss, process.execPath, mainJs, ...args]] : [process.execPath, [mainJs, ...args]];
  const r = spawnSync(cmd, argv, { cwd: tmp, encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 90_000, maxBuffer: 64 << 20 });
  let peakKiB: number | undefined;
  if (timed && existsSync(rss)) peakKiB = Number(readFileSync(rss, 'utf8').trim().split('\n').pop());
  return { code: r.status ?? (r.signal ? 128 : null), out: r.stdout, err: r.stderr, peakKiB };
}

// ---------------------------------------------------------------- snapshots of the inputs

/** path (relative to root) → sha256, for every file under root (or root itself when it is a file). */
function snapshot(root: string, into = new Map<string, string>()): Map<string, string> {
  if (!existsSync(root)) return into;
  const walk = (f: string): void => {
    const st = statSync(f);
    if (st.isDirectory()) for (const e of readdirSync(f).sort()) walk(join(f, e));
    else into.set(relative(tmp, f) || f, createHash('sha256').update(readFileSync(f)).digest('hex'));
  };
  walk(root);
  return into;
}

// ---------------------------------------------------------------- hostile inputs

/** Parses a .safetensors file into its JSON header and data section. */
function readSafetensors(path: string): { header: Record<string, any>; data: Buffer } {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')), data: Buffer.from(b.subarray(8 + n)) };
}
function writeSafetensors(path: string, header: Record<string, unknown>, data: Buffer): void {
  let h = Buffer.from(JSON.stringify(header), 'utf8');
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, data]));
}
/** A copy of a model file with its header and/or data edited. */
function forgeModel(src: string, dst: string, edit: (header: Record<string, any>, data: Buffer) => void): void {
  const { header, data } = readSafetensors(src);
  edit(header, data);
  writeSafetensors(dst, header, data);
}
const firstTensor = (header: Record<string, any>, dtype: string): string => Object.keys(header).find((k) => k !== '__metadata__' && header[k].dtype === dtype)!;

/** A zip archive (STORED/DEFLATE entries with sizes and CRCs as given): enough to forge torch.save files. */
interface RawEntry {
  name: string;
  method: 0 | 8;
  data: Buffer; // as stored (compressed for method 8)
  crc: number;
  size: number; // the declared uncompressed size
}
function writeZip(path: string, entries: readonly RawEntry[]): void {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(e.crc >>> 0, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(e.method, 10);
    c.writeUInt32LE(e.crc >>> 0, 16);
    c.writeUInt32LE(e.data.length, 20);
    c.writeUInt32LE(e.size, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    parts.push(local, name, e.data);
    central.push(c, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  writeFileSync(path, Buffer.concat([...parts, cd, eocd]));
}

/** Raw-deflates `count` copies of `chunk` as a stream (the input never exists in memory at once); with its CRC-32. */
async function deflateRepeated(chunk: Buffer, count: number, raw: boolean): Promise<{ data: Buffer; crc: number }> {
  const d = raw ? zlib.createDeflateRaw({ level: 9 }) : zlib.createDeflate({ level: 9 });
  const out: Buffer[] = [];
  d.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((r) => d.on('end', r));
  let crc = 0;
  for (let i = 0; i < count; i++) {
    crc = zlib.crc32(chunk, crc);
    if (!d.write(chunk)) await new Promise((r) => d.once('drain', r));
  }
  d.end();
  await ended;
  return { data: Buffer.concat(out), crc };
}

/** taming.ckpt with its largest storage replaced by `bytes` of deflated zeros; the directory declares `declared` bytes. */
async function zipBomb(path: string, bytes: number, declared: 'honest' | 'expected'): Promise<void> {
  const zip = new ZipReader(readFileSync(TAMING_CKPT));
  const names = [...zip.entries.keys()];
  const target = names.filter((n) => /\/data\/\d+$/.test(n)).sort((a, b) => zip.entries.get(b)!.size - zip.entries.get(a)!.size)[0]!;
  const bomb = await deflateRepeated(Buffer.alloc(1 << 20), bytes >> 20, true);
  const entries: RawEntry[] = names.map((name) => {
    const e = zip.entries.get(name)!;
    if (name !== target) {
      const data = Buffer.from(zip.read(name));
      return { name, method: 0, data, crc: zlib.crc32(data), size: data.length };
    }
    return { name, method: 8, data: bomb.data, crc: bomb.crc, size: declared === 'honest' ? bytes : e.size };
  });
  writeZip(path, entries);
}

/** A valid grey PNG of w×h black pixels, compressed as a stream: 16000×16000 is about 250 KB on disk. */
async function pngBomb(path: string, w: number, h: number): Promise<void> {
  const chunk = (type: string, body: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const idat = await deflateRepeated(Buffer.alloc(w + 1), h, false); // each row: filter byte 0, then w zeros
  writeFileSync(
    path,
    Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', idat.data), chunk('IEND', Buffer.alloc(0))]),
  );
}

async function writeImage(path: string, w: number, h: number, white?: [number, number, number, number]): Promise<void> {
  const d = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const inBox = white && x >= white[0] && y >= white[1] && x < white[0] + white[2] && y < white[1] + white[3];
      [d[i], d[i + 1], d[i + 2]] = white ? (inBox ? [255, 255, 255] : [0, 0, 0]) : [(x * 255) / w, (y * 255) / h, ((x + y) * 97) % 256];
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  await sharp(d, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

/** A PID that is certainly not running: a child that has already exited. */
const deadPid = (): number => spawnSync('true').pid!;

const listPngs = (dir: string): string[] =>
  existsSync(p(dir))
    ? readdirSync(p(dir))
        .filter((f) => f.endsWith('.png'))
        .sort()
    : [];
const logLines = (dir: string): number =>
  existsSync(join(dir, 'log.jsonl')) ? readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').filter(Boolean).length : 0;

/** Starts a long tiny training in `dir` and resolves once `ready(dir)` holds; returns the child and its exit. */
async function startTraining(dir: string, extra: string[], ready: (dir: string) => boolean) {
  const child = spawn(process.execPath, [mainJs, ...TINY, '--steps', '100000', '--log-every', '1', ...extra, '--out', dir], {
    cwd: tmp,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  for (let i = 0; i < 1200 && child.exitCode === null && !ready(dir); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(child.exitCode, null, `the training ended early:\n${err}`);
  assert.ok(ready(dir), `the training in ${dir} did not get under way in 60 s:\n${err}`);
  return { child, exited, err: () => err };
}

// ---------------------------------------------------------------- the table

interface Case {
  /** Item of the hardening issue (1–11), or 'input' for long-standing bad-input checks. */
  item: string;
  name: string;
  /** Arguments of one CLI run … */
  args?: readonly string[];
  /** … or a scenario around it (a live process holding the run, a signal) returning the run to check. */
  scenario?: () => Promise<Run>;
  env?: NodeJS.ProcessEnv;
  /** Expected exit code (a list when either of two codes is a correct reading). */
  code: number | readonly number[];
  /** The one stderr line of a failing run must match. */
  err?: RegExp;
  /** A scenario's stderr may hold progress lines before the final one. */
  multiline?: boolean;
  /** Must not match stderr (e.g. a misleading message this case used to get). */
  notErr?: RegExp;
  /** A successful run's stdout must match. */
  out?: RegExp;
  /** Peak resident memory cap in MiB. */
  maxMiB?: number;
  check?: (r: Run) => void | Promise<void>;
  /** Paths (under the sandbox) that may change: outputs written into an input area on purpose. */
  mayChange?: readonly string[];
}

const TINY_RUN = 'in/run'; // a finished tiny tokenizer run: checkpoint.safetensors and model.safetensors
let tinyRunError: string | undefined;
const RAW_TEXT =
  /\b(EISDIR|ENOENT|EEXIST|ENOTDIR|EACCES): |\.tmp-\d+|\.partial-\d+|Allocator|Invalid typed array length|Array buffer allocation failed|\bis null\b|\n\s+at \S+ \(|RangeError|TypeError/;
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

const cases: Case[] = [
  // ---- 1. memory bounds (peak RSS of an idle CLI with libtorch loaded is about 250 MB)
  {
    item: '1',
    name: 'sample -n 100000 is refused up front, not by the allocator',
    args: ['sample', '--model', MG, '-n', '100000', '--out', 'out/many.png'],
    code: [1, 2],
    err: /-n 100,?000.*(limit|at most|<=)/,
    maxMiB: 450,
  },
  {
    item: '1',
    name: 'sample -n 400 runs in bounded batches (one batch of 400 would peak near 1.4 GB)',
    args: ['sample', '--model', MG, '-n', '400', '--steps', '1', '--out', 'out/n400.png'],
    code: 0,
    maxMiB: 800,
    check: () => assert.equal(listPngs('out/n400').length, 400),
  },
  {
    item: '1',
    name: 'decode of a 2000×2000 token grid is refused before decoding',
    args: ['decode', '--model', VQ, '--tokens', 'in/grid2000.json', '--out', 'out/big.png'],
    code: [1, 2],
    err: /2000.?×.?2000|4,000,000|limit/,
    maxMiB: 500,
  },
  {
    item: '1',
    name: 'encode of a 16000×16000 PNG (250 KB on disk) is refused from its header',
    args: ['encode', '--model', VQ, '--input', 'in/bomb16k.png', '--out', 'out/bomb.json'],
    code: [1, 2],
    err: /16000.?×.?16000.*limit/,
    maxMiB: 450,
  },
  {
    item: '1',
    name: 'reconstruct of a 16000×16000 PNG is refused too',
    args: ['reconstruct', '--model', VQ, '--input', 'in/bomb16k.png', '--out', 'out/bomb.png'],
    code: [1, 2],
    err: /16000.?×.?16000.*limit/,
    maxMiB: 450,
  },
  {
    item: '1',
    name: 'outpaint --right 100000 is refused up front',
    args: ['outpaint', '--model', MG, '--input', 'in/img28.png', '--right', '100000', '--out', 'out/wide.png'],
    code: [1, 2],
    err: /100,?000.*(limit|at most|<=)/,
    maxMiB: 450,
  },

  // ---- 2. masks of any size
  {
    item: '2',
    name: 'inpaint --mask with a 56×56 RGB mask (not the model size) works',
    args: ['inpaint', '--model', MG, '--input', 'in/img28.png', '--mask', 'in/mask56.png', '--out', 'out/inpainted.png'],
    code: 0,
    out: /^wrote out\/inpainted\.png: regenerated \d+ of 49 tokens/,
    check: () => assert.ok(existsSync(p('out', 'inpainted.png'))),
  },

  // ---- 3. one training per run folder
  {
    item: '3',
    name: 'a second training on a run folder a live training holds is refused',
    scenario: async () => {
      const dir = p('runs', 'locked');
      const first = await startTraining(dir, ['--checkpoint-every', '1'], (d) => existsSync(join(d, 'checkpoint.safetensors')) && logLines(d) >= 2);
      try {
        return tessera(['train', 'tokenizer', '--out', 'runs/locked', '--resume']);
      } finally {
        first.child.kill('SIGINT'); // our own child: saves its checkpoint and exits
        await first.exited;
      }
    },
    code: 1,
    err: /(in use|locked|another (training|process)|already running|pid \d+)/i,
  },

  // ---- 4. numbers: finite only, integers bounded
  {
    item: '4',
    name: '--lr 1e400 is not a finite number',
    args: [...TINY, '--lr', '1e400', '--out', 'runs/lr'],
    code: 2,
    err: /invalid value '1e400' for --lr \(out of range: not a finite number\)/,
  },
  {
    item: '4',
    name: '--lr Infinity and --lr NaN are rejected as before',
    args: [...TINY, '--lr', 'NaN', '--out', 'runs/lr'],
    code: 2,
    err: /invalid value 'NaN' for --lr/,
  },
  {
    item: '4',
    name: '--temperature 1e400',
    args: ['sample', '--model', MG, '--temperature', '1e400', '--out', 'out/t.png'],
    code: 2,
    err: /invalid value '1e400' for --temperature \(out of range: not a finite number\)/,
  },
  {
    item: '4',
    name: '--cfg 1e400',
    args: ['sample', '--model', MG, '--cfg', '1e400', '--out', 'out/t.png'],
    code: 2,
    err: /invalid value '1e400' for --cfg \(out of range: not a finite number\)/,
  },
  {
    item: '4',
    name: '--seed beyond 2^53 - 1',
    args: ['sample', '--model', MG, '--seed', '1e300', '--out', 'out/t.png'],
    code: 2,
    err: /--seed must be <= (9007199254740991|\d+) \(got 1e300\)/,
  },
  {
    item: '4',
    name: "--size 20000 hits the option's documented maximum",
    args: [...TINY, '--size', '20000', '--out', 'runs/size'],
    code: 2,
    err: /--size must be <= \d+ \(got 20000\)/,
  },
  {
    item: '4',
    name: 'train prior --size 20000 too',
    args: ['train', 'prior', '--arch', 'maskgit', '--tokenizer', VQ, '--data', 'mnist', '--size', '20000', '--out', 'runs/psize'],
    code: 2,
    err: /--size must be <= \d+ \(got 20000\)/,
  },
  {
    item: '4',
    name: 'eval tokenizer --size 20000 too',
    args: ['eval', 'tokenizer', '--model', VQ, '--data', 'mnist', '--size', '20000'],
    code: 2,
    err: /--size must be <= \d+ \(got 20000\)/,
  },
  {
    item: '4',
    name: 'a --config file with 1e400 is rejected as not finite (not "is null")',
    args: [...TINY, '--config', 'in/inf-config.json', '--out', 'runs/infcfg'],
    code: [1, 2],
    err: /lr.*(finite|Infinity)/,
    notErr: /null/,
  },
  {
    item: '4',
    name: '--temperature 0: the message and --help agree that it must be > 0',
    args: ['sample', '--model', MG, '--temperature', '0', '--out', 'out/t.png'],
    code: 2,
    err: /--temperature must be > 0/,
  },
  { item: '4', name: 'sample --help documents the exclusive minimum', args: ['sample', '--help'], code: 0, out: /--temperature <x> +.*\(> 0/ },

  // ---- 5. outputs never destroy inputs or mix with stale ones
  {
    item: '5',
    name: 'reconstruct --input DIR --out DIR is refused: it would overwrite the originals',
    args: ['reconstruct', '--model', VQ, '--input', 'in/imgs', '--out', 'in/imgs'],
    code: [1, 2],
    err: /in\/imgs.*(destroy|overwrite|same|inside|input)/,
  },
  {
    item: '5',
    name: 'reconstruct --out onto its --input file is refused',
    args: ['reconstruct', '--model', VQ, '--input', 'in/img16.png', '--out', 'in/img16.png'],
    code: [1, 2],
    err: /in\/img16\.png.*(destroy|overwrite|same|input)/,
  },
  {
    item: '5',
    name: 'sample --out x.png when a file x exists fails before writing anything',
    args: ['sample', '--model', MG, '-n', '2', '--out', 'in/x.png'],
    code: [1, 2],
    err: /in\/x\b.*(not a (folder|directory)|is a file|exists)/,
  },
  {
    item: '5',
    name: 'sample into a folder of an earlier, larger -n leaves no stale images',
    scenario: async () => {
      const first = tessera(['sample', '--model', MG, '-n', '5', '--steps', '1', '--out', 'out/grid.png']);
      assert.equal(first.code, 0, first.err);
      assert.equal(listPngs('out/grid').length, 5);
      return tessera(['sample', '--model', MG, '-n', '2', '--steps', '1', '--out', 'out/grid.png']);
    },
    code: 0,
    check: () => assert.deepEqual(listPngs('out/grid').length, 2, `stale images: ${listPngs('out/grid').join(', ')}`),
  },

  // ---- 6. negative numbers are values; numeric classes are range-checked ids
  {
    item: '6',
    name: '--class=-1 is an out-of-range id, not the class named 1',
    args: ['sample', '--model', MG, '--class=-1', '-n', '1', '--out', 'out/c.png'],
    code: 2,
    err: /class id -1 is out of range \[0, 10\)/,
  },
  {
    item: '6',
    name: '--class -1 is a value (not "needs a value")',
    args: ['sample', '--model', MG, '--class', '-1', '-n', '1', '--out', 'out/c.png'],
    code: 2,
    err: /class id -1 is out of range/,
    notErr: /needs a value/,
  },
  {
    item: '6',
    name: '--class 10 on a 10-class model',
    args: ['sample', '--model', MG, '--class', '10', '-n', '1', '--out', 'out/c.png'],
    code: 2,
    err: /class id 10 is out of range \[0, 10\)/,
  },
  {
    item: '6',
    name: '--class 2.5 is not an id',
    args: ['sample', '--model', MG, '--class', '2.5', '-n', '1', '--out', 'out/c.png'],
    code: 2,
    err: /class id 2\.5 is out of range/,
  },
  {
    item: '6',
    name: '--box -5,-5,10,10 is a value that does not fit (not "needs a value")',
    args: ['inpaint', '--model', MG, '--input', 'in/img28.png', '--box', '-5,-5,10,10', '--out', 'out/box.png'],
    code: 2,
    err: /--box -5,-5,10,10 does not fit inside the 28×28 image/,
  },
  {
    item: '6',
    name: '--steps -5 says what is wrong with the value',
    args: ['sample', '--model', MG, '--steps', '-5', '--out', 'out/s.png'],
    code: 2,
    err: /--steps must be >= 1 \(got -5\)/,
  },

  // ---- 7. text from files never reaches the terminal raw
  {
    item: '7',
    name: 'info escapes control sequences and newlines in metadata',
    args: ['info', '--model', 'in/meta-escape.safetensors'],
    code: 0,
    check: (r) => {
      assert.doesNotMatch(r.out, CONTROL, 'raw control characters in the output');
      assert.match(r.out, /^note +pwned\\u001b\]0;owned\\u0007\\u001b\[2J\\u001b\[H\\nfake: line\\r\\u009b31m\\u202eevil$/m);
      assert.doesNotMatch(r.out, /^fake: line/m, 'a metadata newline faked an output line');
      assert.match(r.out, /^x\\u001b\[31mkey +value$/m);
    },
  },
  {
    item: '7',
    name: 'info --json stays exact (parses back to the very same strings) with no raw control bytes',
    args: ['info', '--model', 'in/meta-escape.safetensors', '--json'],
    code: 0,
    check: (r) => {
      assert.doesNotMatch(r.out, CONTROL);
      const j = JSON.parse(r.out) as { metadata: Record<string, string> };
      assert.equal(j.metadata.note, HOSTILE);
      assert.equal(j.metadata['x\x1b[31mkey'], 'value');
    },
  },
  {
    item: '7',
    name: 'class names from a model file are escaped in errors',
    args: ['sample', '--model', 'in/classes-escape.safetensors', '--class', 'zzz', '-n', '1', '--out', 'out/c.png'],
    code: [1, 2],
    err: /class/,
  },

  // ---- 8. tensors are checked on load
  { item: '8', name: 'a tensor relabelled F32 → I32 is refused', args: ['info', '--model', 'in/i32.safetensors'], code: 1, err: /I32|int32|dtype/i },
  {
    item: '8',
    name: 'the relabelled model cannot encode either',
    args: ['encode', '--model', 'in/i32.safetensors', '--input', 'in/img16.png', '--out', 'out/i32.json'],
    code: 1,
    err: /I32|int32|dtype/i,
  },
  {
    item: '8',
    name: 'NaN weights are refused',
    args: ['encode', '--model', 'in/nan.safetensors', '--input', 'in/img16.png', '--out', 'out/nan.json'],
    code: 1,
    err: /NaN|non-finite|not finite/i,
  },

  // ---- 9. the zip reader never inflates past the declared or expected size
  {
    item: '9',
    name: 'a storage that inflates to 512 MB (declared honestly) is refused before inflating',
    args: ['import', 'taming', '--checkpoint', 'in/zip-bomb.ckpt', '--config', TAMING_YAML, '--out', 'out/bomb.safetensors'],
    code: 1,
    err: /in\/zip-bomb\.ckpt.*(size|bytes|expected|larger)/,
    maxMiB: 400,
  },
  {
    item: '9',
    name: 'a storage whose directory understates its size (inflates to 512 MB) stops at the declared size',
    args: ['import', 'taming', '--checkpoint', 'in/zip-liar.ckpt', '--config', TAMING_YAML, '--out', 'out/liar.safetensors'],
    code: 1,
    err: /in\/zip-liar\.ckpt.*(size|bytes|expected|larger|corrupt)/,
    maxMiB: 400,
  },

  // ---- 10. interrupted writes and SIGTERM
  {
    item: '10',
    name: 'SIGTERM saves a checkpoint like Ctrl-C and says how to resume',
    scenario: async () => {
      const dir = p('runs', 'term');
      const t = await startTraining(dir, ['--checkpoint-every', '100000'], (d) => logLines(d) >= 2);
      t.child.kill('SIGTERM');
      const code = await t.exited;
      return { code, out: '', err: t.err() };
    },
    code: 143,
    multiline: true,
    err: /(interrupted|stopped by SIGTERM) at step \d+ of 100000; checkpoint saved\. Resume with: tessera train tokenizer --out \S+ --resume/,
    check: () => assert.ok(existsSync(p('runs', 'term', 'checkpoint.safetensors')), 'no checkpoint after SIGTERM'),
  },
  {
    item: '10',
    name: 'temp files left by a killed writer are cleaned up when the run continues',
    scenario: async () => {
      const pid = deadPid();
      mkdirSync(p('runs', 'killed'), { recursive: true });
      for (const f of readdirSync(p(TINY_RUN))) if (statSync(p(TINY_RUN, f)).isFile()) copyFileSync(p(TINY_RUN, f), p('runs', 'killed', f));
      writeFileSync(p('runs', 'killed', `checkpoint.safetensors.tmp-${pid}`), 'half a checkpoint');
      writeFileSync(p('runs', 'killed', `model.safetensors.tmp-${pid}`), 'half a model');
      return tessera(['train', 'tokenizer', '--out', 'runs/killed', '--resume', '--steps', '4']);
    },
    code: 0,
    check: () =>
      assert.deepEqual(
        readdirSync(p('runs', 'killed')).filter((f) => /\.tmp-\d+$/.test(f)),
        [],
      ),
  },

  // ---- 11. clear messages
  {
    item: '11',
    name: 'a training checkpoint given as --model points to --resume and model.safetensors',
    args: ['info', '--model', `${TINY_RUN}/checkpoint.safetensors`],
    code: 1,
    err: /checkpoint.*--resume.*model\.safetensors/,
    notErr: /metadata|tessera\.version/,
  },
  {
    item: '11',
    name: '… also for encode',
    args: ['encode', '--model', `${TINY_RUN}/checkpoint.safetensors`, '--input', 'in/img16.png', '--out', 'out/ck.json'],
    code: 1,
    err: /checkpoint.*--resume.*model\.safetensors/,
    notErr: /metadata|tessera\.version/,
  },
  {
    item: '11',
    name: '… and for sample',
    args: ['sample', '--model', `${TINY_RUN}/checkpoint.safetensors`, '--out', 'out/ck.png'],
    code: 1,
    err: /checkpoint.*--resume.*model\.safetensors/,
    notErr: /metadata|tessera\.version/,
  },
  {
    item: '11',
    name: 'a prior given as --tokenizer is named as a prior (not "missing --data")',
    args: ['train', 'prior', '--arch', 'maskgit', '--tokenizer', MG, '--out', 'runs/pp'],
    code: [1, 2],
    err: /prior/,
    notErr: /--data/,
  },
  {
    item: '11',
    name: 'a torch file given to --inception (even named .safetensors) is read as one: the problem named is its keys, not a header',
    args: ['eval', 'fid', '--inception', 'in/torch-inception.safetensors', 'in/imgs', 'in/imgs'],
    code: 1,
    err: /in\/torch-inception\.safetensors:? (weights )?(do|does) not match pytorch-fid's FID Inception/,
    notErr: /header/,
  },
  {
    item: '11',
    name: 'a torch checkpoint given as --classifier is named as one (not a bad safetensors header)',
    args: ['eval', 'fid', '--classifier', 'in/taming.safetensors', 'in/imgs', 'in/imgs'],
    code: 1,
    err: /in\/taming\.safetensors.*PyTorch checkpoint/,
    notErr: /header/,
  },
  {
    item: '11',
    name: 'a torch checkpoint given as --model is named as one, with the import command',
    args: ['info', '--model', 'in/taming.safetensors'],
    code: 1,
    err: /PyTorch checkpoint.*tessera import taming/,
    notErr: /header/,
  },
  {
    item: '11',
    name: 'sample --out onto an existing folder: no errno text, no temp file names',
    args: ['sample', '--model', MG, '-n', '1', '--steps', '1', '--out', 'in/dir.png'],
    code: [1, 2],
    err: /in\/dir\.png.*(is a (folder|directory))/,
  },
  {
    item: '11',
    name: 'encode --out below a file: no errno text',
    args: ['encode', '--model', VQ, '--input', 'in/img16.png', '--out', 'in/afile/t.json'],
    code: [1, 2],
    err: /in\/afile.*(is a file|not a (folder|directory))/,
  },
  {
    item: '11',
    name: 'train --out onto a file: no errno text',
    args: [...TINY, '--steps', '1', '--out', 'in/afile'],
    code: [1, 2],
    err: /in\/afile.*(not a (folder|directory)|is a file|exists)/,
  },

  // ---- long-standing bad input
  { item: 'input', name: 'missing model file', args: ['info', '--model', 'in/none.safetensors'], code: 1, err: /model file not found: in\/none\.safetensors/ },
  { item: 'input', name: 'not a safetensors file', args: ['info', '--model', 'in/garbage.safetensors'], code: 1, err: /in\/garbage\.safetensors/ },
  {
    item: 'input',
    name: 'truncated model file',
    args: ['encode', '--model', 'in/truncated.safetensors', '--input', 'in/img16.png', '--out', 'out/tr.json'],
    code: 1,
    err: /in\/truncated\.safetensors/,
  },
  {
    item: 'input',
    name: 'a tokenizer given as a prior',
    args: ['sample', '--model', VQ, '--out', 'out/tok.png'],
    code: 1,
    err: /holds a 'vqvae' model, not a prior/,
  },
  {
    item: 'input',
    name: 'unreadable image',
    args: ['encode', '--model', VQ, '--input', 'in/broken.png', '--out', 'out/b.json'],
    code: 1,
    err: /in\/broken\.png/,
  },
  {
    item: 'input',
    name: 'malformed token file',
    args: ['decode', '--model', VQ, '--tokens', 'in/bad-tokens.json', '--out', 'out/bt.png'],
    code: 1,
    err: /not valid JSON/,
  },
  {
    item: 'input',
    name: 'unknown option with a suggestion',
    args: ['sample', '--modle', MG],
    code: 2,
    err: /unknown option --modle \(did you mean --model\?\)/,
  },
  {
    item: 'input',
    name: 'bad enum value',
    args: ['sample', '--model', MG, '--schedule', 'cosin', '--out', 'out/e.png'],
    code: 2,
    err: /invalid value 'cosin' for --schedule \(did you mean cosine\?\)/,
  },
  {
    item: 'input',
    name: 'hostile bytes typed on the command line are escaped too',
    args: ['sample', '--model', MG, '--schedule', 'x\x1b]0;t\x07', '--out', 'out/e.png'],
    code: 2,
    err: /invalid value 'x\\u001b\]0;t\\u0007' for --schedule/,
  },
];

// ---------------------------------------------------------------- building the inputs

before(async () => {
  mkdirSync(p('in', 'imgs'), { recursive: true });
  mkdirSync(p('out'), { recursive: true });
  await writeImage(p('in', 'img16.png'), 16, 16);
  await writeImage(p('in', 'img28.png'), 28, 28);
  await writeImage(p('in', 'imgs', 'a.png'), 16, 16);
  await writeImage(p('in', 'imgs', 'b.png'), 20, 20);
  await writeImage(p('in', 'mask56.png'), 56, 56, [16, 16, 20, 20]);
  writeFileSync(p('in', 'x'), 'a file named like the image folder of x.png');
  writeFileSync(p('in', 'afile'), 'a plain file');
  mkdirSync(p('in', 'dir.png'));
  writeFileSync(p('in', 'garbage.safetensors'), 'definitely not safetensors');
  writeFileSync(p('in', 'truncated.safetensors'), readFileSync(VQ).subarray(0, 2000));
  writeFileSync(p('in', 'broken.png'), Buffer.concat([readFileSync(p('in', 'img16.png')).subarray(0, 40)]));
  writeFileSync(p('in', 'inf-config.json'), '{"lr": 1e400}');
  copyFileSync(TORCH_PTH, p('in', 'torch-inception.safetensors'));
  copyFileSync(TAMING_CKPT, p('in', 'taming.safetensors'));
  writeFileSync(p('in', 'bad-tokens.json'), '{"shape": [4, 4], "indices": [1, 2');

  // 7: metadata and class names with escape sequences and newlines.
  forgeModel(VQ, p('in', 'meta-escape.safetensors'), (h) => {
    h.__metadata__.note = HOSTILE;
    h.__metadata__['x\x1b[31mkey'] = 'value';
  });
  forgeModel(MG, p('in', 'classes-escape.safetensors'), (h) => {
    const config = JSON.parse(h.__metadata__['tessera.config']);
    config.classNames[3] = 'three\x1b]0;owned\x07\x1b[2J\nfake: line';
    h.__metadata__['tessera.config'] = JSON.stringify(config);
  });
  // 8: a float tensor relabelled as int32 (same byte size), and a NaN weight.
  forgeModel(VQ, p('in', 'i32.safetensors'), (h) => (h[firstTensor(h, 'F32')].dtype = 'I32'));
  forgeModel(VQ, p('in', 'nan.safetensors'), (h, data) => {
    const key = Object.keys(h).find((k) => k.endsWith('.weight') && h[k].dtype === 'F32')!;
    data.writeFloatLE(NaN, h[key].data_offsets[0] + 4);
  });
  // 1: a 2000×2000 token grid; a PNG declaring 16000×16000 pixels.
  writeFileSync(p('in', 'grid2000.json'), `{"shape": [2000, 2000], "indices": [${'0,'.repeat(2000 * 2000 - 1)}0]}`);
  await pngBomb(p('in', 'bomb16k.png'), 16000, 16000);
  // 9: zip storages inflating to 512 MB.
  await zipBomb(p('in', 'zip-bomb.ckpt'), 512 << 20, 'honest');
  await zipBomb(p('in', 'zip-liar.ckpt'), 512 << 20, 'expected');
  // 10, 11: a finished tiny run (its checkpoint is an input of several cases).
  // Cases that use it fail (not the whole table) when it cannot be trained.
  const r = tessera([...TINY, '--steps', '2', '--out', TINY_RUN]);
  if (r.code !== 0) tinyRunError = `the tiny training for ${TINY_RUN} failed:\n${r.err}`;
});

describe('hostile input: one row per case', () => {
  for (const c of cases) {
    test(`[${c.item}] ${c.name}`, async (t) => {
      // Every file in the input area and every existing path named on the command line.
      const named = (c.args ?? []).filter((a) => !a.startsWith('-') && existsSync(a.startsWith('/') ? a : p(a)));
      const take = () => {
        const m = snapshot(p('in'));
        for (const a of named) if (a.startsWith('/')) snapshot(a, m);
        for (const x of c.mayChange ?? []) for (const k of [...m.keys()]) if (k.startsWith(x)) m.delete(k);
        return m;
      };
      const outIdx = (c.args ?? []).indexOf('--out');
      const out = outIdx >= 0 ? c.args![outIdx + 1]! : undefined;
      const outExisted = out !== undefined && existsSync(p(out));
      if ([...(c.args ?? []), c.scenario?.toString() ?? ''].some((a) => a.includes(TINY_RUN) || a.includes('TINY_RUN'))) assert.equal(tinyRunError, undefined);
      const before = take();

      const r = c.scenario ? await c.scenario() : tessera(c.args!, c.env);

      const peak = r.peakKiB === undefined ? '' : `, peak ${Math.round(r.peakKiB / MB)} MiB`;
      t.diagnostic(`exit ${r.code}${peak}: ${JSON.stringify(r.err.trimEnd().split('\n').at(-1))}`);
      const codes = typeof c.code === 'number' ? [c.code] : c.code;
      assert.ok(codes.includes(r.code as number), `exit code ${r.code}, expected ${codes.join(' or ')}; stderr:\n${r.err}`);
      if (codes.some((k) => k !== 0)) {
        const lines = r.err.trimEnd().split('\n');
        if (!c.multiline) assert.equal(lines.length, 1, `one stderr line expected, got:\n${r.err}`);
        // The message proper: without the "tessera <command>: [error: ]" prefix, which names the command anyway.
        const last = lines.at(-1)!.replace(/^tessera [a-z ]+: (error: )?/, '');
        if (c.err) assert.match(last, c.err);
        assert.doesNotMatch(r.err, RAW_TEXT, 'raw errno/allocator text, a temp file name or a stack trace');
        assert.doesNotMatch(r.err.replace(/\r/g, '').replace(/\n/g, ''), CONTROL, 'raw control characters on stderr');
        if (out !== undefined && !outExisted && !c.scenario) assert.ok(!existsSync(p(out)), `a failing run left ${out} behind`);
      } else {
        assert.doesNotMatch(r.err, RAW_TEXT);
      }
      if (c.notErr) assert.doesNotMatch(r.err, c.notErr);
      if (c.out) assert.match(r.out, c.out);
      if (c.maxMiB !== undefined) {
        assert.ok(r.peakKiB !== undefined, `peak memory not measured: ${TIME} is missing (apt-get install time)`);
        assert.ok(r.peakKiB! <= c.maxMiB * MB, `peak memory ${Math.round(r.peakKiB! / MB)} MiB, cap ${c.maxMiB} MiB`);
      }
      await c.check?.(r);
      assert.deepEqual(take(), before, 'an input file changed, appeared or disappeared');
    });
  }
});
