// Reader for PyTorch `torch.save` files: .pt/.pth state dicts and Lightning .ckpt checkpoints, in the zip
// format (PyTorch ≥ 1.6) and the legacy one (a stream of pickles, see torch-legacy.ts). Zip layout:
//   <prefix>/data.pkl       the pickled object; tensors refer to storages through persistent ids
//   <prefix>/data/<key>     raw little-endian storage bytes, one record per storage
//   <prefix>/byteorder      optional, 'little' or 'big'
// Everything loads onto the CPU whatever device the tensors were saved from (storage sharing: torch-storage.ts).
import { readFileSync } from 'node:fs';
import { Tensor } from '../torch/index.js';
import { FormatError, q, withLabel } from './errors.js';
import { unpickle, type PyGlobal } from './pickle.js';
import { isLegacyStream, loadLegacy } from './torch-legacy.js';
import { StorageRef, isCount, placeholder, storageType, withTensorRebuild } from './torch-storage.js';
import { ZipReader } from './zip.js';

export interface TorchLoadOptions {
  /** Verify each zip entry's CRC-32 (default true; the legacy format has no checksums). */
  verifyCrc?: boolean;
  /** Names the source in error messages when `source` is bytes (default '<bytes>'). */
  name?: string;
}

/**
 * Loads a torch.save file (a path or its bytes; zip or legacy format) and returns the unpickled object:
 * dicts become plain objects, tensors become Tensors (CPU), unknown classes become inert placeholders —
 * see pickle.ts for the full mapping. Nothing from the file is executed.
 */
export function loadTorchCheckpoint(source: string | Uint8Array, opts: TorchLoadOptions = {}): unknown {
  const name = typeof source === 'string' ? source : (opts.name ?? '<bytes>');
  return withLabel(`torch checkpoint ${name}`, () => {
    const bytes = typeof source === 'string' ? readFileSync(source) : source;
    return loadAny(bytes, opts);
  });
}

function startsWith(bytes: Uint8Array, prefix: ArrayLike<number>, at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

function loadAny(bytes: Uint8Array, opts: TorchLoadOptions): unknown {
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return loadArchive(bytes, opts);
  if (isLegacyStream(bytes)) return loadLegacy(bytes);
  // The earliest releases wrote a tar archive ('ustar' magic at offset 257).
  if (startsWith(bytes, [0x75, 0x73, 0x74, 0x61, 0x72], 257)) {
    throw new FormatError('the tar-based torch.save format of the earliest PyTorch releases is not supported; re-save the file with a newer PyTorch');
  }
  throw new FormatError('not a torch.save file (neither a zip archive nor a legacy pickle stream with the torch magic number)');
}

function loadArchive(bytes: Uint8Array, opts: TorchLoadOptions): unknown {
  const zip = new ZipReader(bytes, { verifyCrc: opts.verifyCrc });

  // The prefix is the archive name torch chose ('archive', or the file stem in older versions).
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length === 0) throw new FormatError('no data.pkl in the archive (not a torch.save file)');
  if (pkls.length > 1) throw new FormatError(`several data.pkl records (${pkls.join(', ')})`);
  const pklName = pkls[0]!;
  const prefix = pklName.slice(0, -'data.pkl'.length);

  let bigEndian = false;
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (order !== 'little' && order !== 'big') throw new FormatError(`unknown byteorder ${q(order)}`);
    bigEndian = order === 'big';
  }

  const source = {
    bigEndian,
    bytes(ref: StorageRef, expected: number): Uint8Array {
      const record = `${prefix}data/${ref.key}`;
      if (!zip.entries.has(record)) throw new FormatError(`storage ${q(ref.key)}: record ${q(record)} is missing`);
      // The pickle says how many bytes the storage holds: a record declaring another size is rejected
      // before it is inflated.
      const declared = zip.entries.get(record)!.size;
      if (declared !== expected) throw new FormatError(`storage ${q(ref.key)} has ${declared} bytes, expected ${expected}`);
      return zip.read(record, { expectedSize: expected });
    },
  };

  const persistentLoad = (pid: unknown): unknown => {
    // ('storage', storage_type, key, location, numel)
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') throw new FormatError('unsupported persistent id (expected a storage tuple)');
    const [, type, key, , numel] = pid;
    if (typeof key !== 'string') throw new FormatError('storage key is not a string');
    if (!isCount(numel)) throw new FormatError(`storage ${q(key)}: bad element count`);
    const kind = storageType(type, key);
    if (kind === 'untyped') return new StorageRef(key, null, numel);
    // An unsupported storage (complex, quantized, …) stays inert: its tensor becomes a placeholder.
    return kind ? new StorageRef(key, kind, numel) : placeholder((type as PyGlobal).fullName, [key, numel]);
  };

  return withTensorRebuild(source, (globals) => unpickle(zip.read(pklName), { globals, persistentLoad }, pklName));
}

// ---------------------------------------------------------------- finding the weights
/** True for a plain object (not a placeholder) whose values are all Tensors, with at least one. */
export function isTensorDict(v: unknown): v is Record<string, Tensor> {
  if (v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return false;
  const vals = Object.values(v);
  return vals.length > 0 && vals.every((x) => x instanceof Tensor);
}

/** Keys tried, in order, when the checkpoint is not itself a tensor dict. */
const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'params'];

/**
 * Finds the tensor dict in a loaded checkpoint: the object itself, `obj[key]` when `key` is given,
 * else the first of state_dict (Lightning), model_state_dict, model, module, net, params that is one.
 * `prefix` keeps only keys starting with it and strips it (Lightning modules often nest the
 * network as `model.`).
 */
export function stateDictFrom(obj: unknown, opts: { key?: string; prefix?: string } = {}): Record<string, Tensor> {
  let found: Record<string, Tensor> | undefined;
  const isObj = obj !== null && typeof obj === 'object' && !Array.isArray(obj);
  if (opts.key !== undefined) {
    const v = isObj ? (obj as Record<string, unknown>)[opts.key] : undefined;
    if (!isTensorDict(v)) {
      throw new FormatError(`checkpoint: ${q(opts.key)} ${v === undefined ? 'is missing' : 'is not a dict of tensors'}${describeKeys(obj)}`);
    }
    found = v;
  } else if (isTensorDict(obj)) found = obj;
  else if (isObj) {
    for (const k of STATE_DICT_KEYS) {
      const v = (obj as Record<string, unknown>)[k];
      if (Object.hasOwn(obj as object, k) && isTensorDict(v)) {
        found = v;
        break;
      }
    }
  }
  if (!found) throw new FormatError(`checkpoint: no dict of tensors found${describeKeys(obj)}`);
  if (opts.prefix === undefined) return found;
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(found)) {
    if (k.startsWith(opts.prefix)) Object.defineProperty(out, k.slice(opts.prefix.length), { value: t, enumerable: true, writable: true, configurable: true });
  }
  if (Object.keys(out).length === 0) throw new FormatError(`checkpoint: no tensor key starts with ${q(opts.prefix)}`);
  return out;
}

function describeKeys(obj: unknown): string {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    return ` (the checkpoint is a ${Array.isArray(obj) ? 'list' : obj === null ? 'None' : typeof obj})`;
  const keys = Object.keys(obj);
  return ` (top-level keys: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', …' : ''})`;
}
