// Tessera model files: a single .safetensors file whose __metadata__ describes the model, so one file
// is enough to rebuild it and any safetensors tool can still read the weights.
//   tessera.kind     model family, e.g. "vqgan"
//   tessera.config   JSON of the model's typed config
//   tessera.version  model-file format version (MODEL_FILE_VERSION)
// Other metadata entries (`extra`) are stored alongside and returned as they are.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tidy, type Tensor } from '../torch/index.js';
import { Module, StateDictError, hasStateDictProblems, type LoadStateDictResult } from '../nn/index.js';
import { FormatError, q, withLabel } from './errors.js';
import { parseSafetensors, saveSafetensors, serializeSafetensors } from './safetensors.js';
import { describeWeightFormat, readWholeFile, sniffWeightBytes } from './weights.js';
import { removeStaleTempFiles } from './atomic.js';

/** Format version written by this build. Readers accept any version with the same major number. */
export const MODEL_FILE_VERSION = '1';

export const MODEL_KEYS = { kind: 'tessera.kind', config: 'tessera.config', version: 'tessera.version' } as const;

/** The metadata key of training checkpoints (src/train/checkpoint.ts), which are not model files. */
export const CHECKPOINT_KEY = 'tessera.checkpoint';

export interface ModelFileInput<C> {
  kind: string;
  config: C;
  stateDict: Record<string, Tensor>;
  /** Additional string metadata (keys must not start with 'tessera.'). */
  extra?: Record<string, string>;
}

export interface ModelFile<C> {
  kind: string;
  config: C;
  stateDict: Record<string, Tensor>;
  /** The whole __metadata__ map, tessera.* keys included. */
  metadata: Record<string, string>;
}

export function serializeModelFile<C>(input: ModelFileInput<C>): Uint8Array {
  return withLabel('model file', () => serializeSafetensors(input.stateDict, modelMetadata(input)));
}

function modelMetadata<C>({ kind, config, extra }: ModelFileInput<C>): Record<string, string> {
  if (typeof kind !== 'string' || kind === '') throw new FormatError('kind must be a non-empty string');
  let json: string | undefined;
  try {
    json = JSON.stringify(config);
  } catch (e) {
    throw new FormatError(`config is not JSON-serializable: ${(e as Error).message}`);
  }
  if (json === undefined) throw new FormatError('config is not JSON-serializable (undefined or a function)');
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (k.startsWith('tessera.')) throw new FormatError(`extra metadata key ${q(k)} is reserved (tessera.*)`);
    meta[k] = v;
  }
  meta[MODEL_KEYS.kind] = kind;
  meta[MODEL_KEYS.config] = json;
  meta[MODEL_KEYS.version] = MODEL_FILE_VERSION;
  return meta;
}

/**
 * Reads a model file from bytes. `opts.kind` makes a file of another kind an error; `opts.name`
 * names the source in error messages.
 */
export function parseModelFile<C = unknown>(bytes: Uint8Array, opts: { kind?: string; name?: string } = {}): ModelFile<C> {
  const label = `model file${opts.name === undefined ? '' : ` ${opts.name}`}`;
  // Say what the file is when it is another kind of weight file, rather than failing on its header.
  const format = sniffWeightBytes(bytes.subarray(0, 4096));
  if (format === 'torch-zip' || format === 'torch-legacy') {
    throw new FormatError(
      `${label}: this is ${describeWeightFormat(format)}, not a Tessera model file; convert a taming-transformers or MoVQGAN checkpoint with \`tessera import taming\` or \`tessera import movq\``,
    );
  }
  if (format === 'unknown' && bytes.length >= 8) throw new FormatError(`${label}: not a Tessera model file (${describeWeightFormat(format)})`);
  const { tensors, metadata } = withLabel(label, () => parseSafetensors(bytes));
  try {
    return withLabel(label, () => {
      const version = metadata[MODEL_KEYS.version];
      if (version === undefined) {
        if (metadata[CHECKPOINT_KEY] !== undefined) throw new FormatError(checkpointMessage(opts.name));
        throw new FormatError(`not a Tessera model file: __metadata__ has no '${MODEL_KEYS.version}'`);
      }
      const major = version.split('.')[0];
      if (major !== MODEL_FILE_VERSION.split('.')[0]) {
        throw new FormatError(`format version ${version} is not supported (this build reads version ${MODEL_FILE_VERSION})`);
      }
      const kind = metadata[MODEL_KEYS.kind];
      if (kind === undefined || kind === '') throw new FormatError(`__metadata__ has no '${MODEL_KEYS.kind}'`);
      if (opts.kind !== undefined && kind !== opts.kind) throw new FormatError(`holds a ${q(kind)} model, expected ${q(opts.kind)}`);
      const raw = metadata[MODEL_KEYS.config];
      if (raw === undefined) throw new FormatError(`__metadata__ has no '${MODEL_KEYS.config}'`);
      let config: C;
      try {
        config = JSON.parse(raw) as C;
      } catch (e) {
        throw new FormatError(`'${MODEL_KEYS.config}' is not valid JSON: ${(e as Error).message}`);
      }
      return { kind, config, stateDict: tensors, metadata };
    });
  } catch (e) {
    for (const t of Object.values(tensors)) t.dispose();
    throw e;
  }
}

/** "this is a training checkpoint …": what to use instead, naming the run directory when known. */
function checkpointMessage(path: string | undefined): string {
  const run = path === undefined ? '<run dir>' : dirname(path);
  return (
    `this is a training checkpoint, not a Tessera model file: continue the run with --out ${run} --resume, ` +
    `or use the model file the run wrote (${path === undefined ? 'model.safetensors' : join(run, 'model.safetensors')})`
  );
}

/** How a model file stores its floating-point tensors. */
export type FloatStorage = 'float32' | 'float16';

export interface StorageResult {
  /** Tensors now stored in the requested dtype. */
  converted: number;
  /** Tensors kept as float32 because float16 would change them (overflow past ±65504, or error above 1e-3 of their largest value). */
  kept: string[];
  bytesBefore: number;
  bytesAfter: number;
}

const FLOAT_DTYPES = new Set<string>(['float32', 'float64', 'float16', 'bfloat16']);

/**
 * Rewrites the model file `src` to `dst` (atomically; may be the same path) with its floating-point
 * tensors stored as `dtype`. Loading is unchanged: every model converts stored weights to its own
 * float32 parameters, so float16 halves the file at the cost of rounding each weight to 11
 * significant bits. Any tensor float16 cannot hold — overflow, or an error above 1e-3 of its largest
 * value (e.g. large EMA counts) — stays float32, and is listed. Metadata is copied unchanged.
 */
export function storeModelFileAs(src: string, dst: string, dtype: FloatStorage): StorageResult {
  const bytes = readWholeFile(src, 'model file');
  const file = parseModelFile(bytes, { name: src });
  const out: Record<string, Tensor> = {};
  const kept: string[] = [];
  let converted = 0;
  try {
    for (const [name, t] of Object.entries(file.stateDict)) {
      if (!FLOAT_DTYPES.has(t.dtype) || t.dtype === dtype) {
        out[name] = t;
        continue;
      }
      const c = tidy(() => t.to(dtype).keep());
      const faithful =
        dtype === 'float32' ||
        tidy(() => {
          const back = c.to('float32');
          const x = t.to('float32');
          if (!back.isfinite().all().item()) return false;
          const scale = Math.max(x.abs().max().item(), 1e-30);
          return back.sub(x).abs().max().item() <= 1e-3 * scale;
        });
      if (faithful) {
        out[name] = c;
        converted += 1;
      } else {
        c.dispose();
        out[name] = t;
        kept.push(name);
      }
    }
    const metadata = Object.fromEntries(Object.entries(file.metadata));
    removeStaleTempFiles(dirname(dst));
    saveSafetensors(dst, out, metadata);
    return { converted, kept, bytesBefore: bytes.length, bytesAfter: statSync(dst).size };
  } finally {
    for (const t of new Set([...Object.values(file.stateDict), ...Object.values(out)])) t.dispose();
  }
}

/** Writes a model file atomically (temp file, fsync, rename), first clearing temp files left by killed writers. */
export function saveModelFile<C>(path: string, input: ModelFileInput<C>): void {
  const metadata = withLabel(`model file ${path}`, () => modelMetadata(input));
  removeStaleTempFiles(dirname(path));
  saveSafetensors(path, input.stateDict, metadata);
}

/** Reads a model file; `opts.what` names it in file-system errors ("<what> not found: <path>", default "model file"). */
export function loadModelFile<C = unknown>(path: string, opts: { kind?: string; what?: string } = {}): ModelFile<C> {
  return parseModelFile<C>(readWholeFile(path, opts.what ?? 'model file'), { kind: opts.kind, name: path });
}

export interface BuildOptions<M> {
  /** What the model is, for messages: "tokenizer", "prior", "classifier" (default "model"). */
  what?: string;
  /** The file in file-system errors: "<fileWhat> not found: <path>" (default "model file"). */
  fileWhat?: string;
  /**
   * Text after "<path> holds a '<kind>' model, " when the file holds another kind
   * (default "expected '<kind>'"), e.g. "not a prior (train one with: tessera train prior)".
   */
  wrongKind?: string;
  /**
   * The modules the state dict is split between, by key prefix ("prior" → keys "prior.*"); default
   * the built model itself, which must then be a Module.
   */
  parts?: (model: M) => Record<string, Module>;
  /** Frees a model whose loading failed (default model.dispose()). */
  dispose?: (model: M) => void;
}

/**
 * The one way to rebuild a model from a Tessera model file: read (format sniffing, strict header),
 * check the kind (one of `kind`), `build(config, kind)` a fresh model, load the weights strictly —
 * names, shapes, dtype kinds and finiteness, one StateDictError listing every problem — and free
 * everything on failure. Messages name the file: "a.safetensors holds a 'vqgan' model, expected …",
 * "<path>: bad <what> config: …", "<Class> from <path>: weights do not match its config: …".
 */
export function buildFromModelFile<C, M extends { dispose(): void }>(
  path: string,
  kind: string | readonly string[],
  build: (config: C, kind: string) => M,
  opts: BuildOptions<M> = {},
): { model: M; kind: string; config: C; metadata: Record<string, string> } {
  const kinds = typeof kind === 'string' ? [kind] : kind;
  const what = opts.what ?? 'model';
  return tidy(() => {
    const file = loadModelFile<C>(path, { what: opts.fileWhat });
    if (!kinds.includes(file.kind)) {
      throw new FormatError(`${path} holds a ${q(file.kind)} model, ${opts.wrongKind ?? `expected ${kinds.map((k) => q(k)).join(' or ')}`}`);
    }
    let model: M;
    try {
      model = build(file.config, file.kind);
    } catch (e) {
      const msg = (e as Error).message;
      throw new Error(`${path}: bad ${msg.startsWith(`${what} config`) ? msg : `${what} config: ${msg}`}`, { cause: e });
    }
    try {
      const parts = opts.parts ? opts.parts(model) : { '': asModule(model) };
      loadParts(parts, modelTensors(file.stateDict), `${model.constructor.name} from ${path}`);
    } catch (e) {
      (opts.dispose ?? ((m: M) => m.dispose()))(model);
      throw e;
    }
    return { model, kind: file.kind, config: file.config, metadata: file.metadata };
  });
}

/**
 * Tensors under `codec.` belong to the compression codec (src/codec: codebook tiers) that a model
 * file may carry beside the model; the model itself never has such keys.
 */
export const CODEC_PREFIX = 'codec.';

/** The state dict without the codec's tensors. */
export function modelTensors(sd: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(sd).filter(([k]) => !k.startsWith(CODEC_PREFIX)));
}

function asModule(m: unknown): Module {
  if (!(m instanceof Module)) throw new TypeError('buildFromModelFile: build() must return a Module, or pass opts.parts');
  return m;
}

/**
 * Loads `sd` into several modules by key prefix ('' = every key), strictly: one StateDictError (keys
 * with their prefixes) lists every problem of every part, including keys that belong to no part.
 * The modules may be partly loaded when it throws: use on fresh models that are discarded on failure.
 */
export function loadParts(parts: Record<string, Module>, sd: Record<string, Tensor>, where: string): void {
  const all: LoadStateDictResult = { missing: [], unexpected: [], mismatched: [] };
  const claimed = new Set<string>();
  for (const [prefix, m] of Object.entries(parts)) {
    const p = prefix === '' ? '' : `${prefix}.`;
    const sub = new Map<string, Tensor>();
    for (const [k, t] of Object.entries(sd)) {
      if (k.startsWith(p)) {
        sub.set(k.slice(p.length), t);
        claimed.add(k);
      }
    }
    const r = m.loadStateDict(sub, { strict: false });
    all.missing.push(...r.missing.map((k) => p + k));
    all.unexpected.push(...r.unexpected.map((k) => p + k));
    all.mismatched.push(...r.mismatched.map((x) => ({ ...x, key: p + x.key })));
    if (r.wrongDtype) (all.wrongDtype ??= []).push(...r.wrongDtype.map((x) => ({ ...x, key: p + x.key })));
    if (r.nonFinite) (all.nonFinite ??= []).push(...r.nonFinite.map((k) => p + k));
  }
  for (const k of Object.keys(sd)) if (!claimed.has(k)) all.unexpected.push(k);
  if (hasStateDictProblems(all)) throw new StateDictError(all, where, { against: 'its config' });
}
