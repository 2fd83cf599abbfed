// Tessera model files: a single .safetensors file whose __metadata__ describes the model, so one file
// is enough to rebuild it and any safetensors tool can still read the weights.
//   tessera.kind     model family, e.g. "vqgan"
//   tessera.config   JSON of the model's typed config
//   tessera.version  model-file format version (MODEL_FILE_VERSION)
// Other metadata entries (`extra`) are stored alongside and returned as they are.
import { readFileSync } from 'node:fs';
import type { Tensor } from '../torch/index.js';
import { FormatError, q, withLabel } from './errors.js';
import { parseSafetensors, saveSafetensors, serializeSafetensors } from './safetensors.js';

/** Format version written by this build. Readers accept any version with the same major number. */
export const MODEL_FILE_VERSION = '1';

export const MODEL_KEYS = { kind: 'tessera.kind', config: 'tessera.config', version: 'tessera.version' } as const;

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
  const { tensors, metadata } = withLabel(label, () => parseSafetensors(bytes));
  try {
    return withLabel(label, () => {
      const version = metadata[MODEL_KEYS.version];
      if (version === undefined) throw new FormatError(`not a Tessera model file: __metadata__ has no '${MODEL_KEYS.version}'`);
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

/** Writes a model file atomically (temp file, fsync, rename). */
export function saveModelFile<C>(path: string, input: ModelFileInput<C>): void {
  const metadata = withLabel(`model file ${path}`, () => modelMetadata(input));
  saveSafetensors(path, input.stateDict, metadata);
}

export function loadModelFile<C = unknown>(path: string, opts: { kind?: string } = {}): ModelFile<C> {
  return parseModelFile<C>(readFileSync(path), { ...opts, name: path });
}
