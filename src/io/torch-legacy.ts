// The legacy torch.save format (PyTorch < 1.6, or _use_new_zipfile_serialization=False), in which most
// published pretrained weights still come (torchvision's VGG16, lpips, pytorch-fid's Inception):
//   pickle 1  the magic number 0x1950a86a20f9469cfc6c
//   pickle 2  the protocol version, 1001
//   pickle 3  sys_info: {protocol_version, little_endian, type_sizes}
//   pickle 4  the object; persistent ids ('storage', storage_type, root_key, location, numel, view_metadata)
//             with view_metadata None or (view_key, offset, view_size), or ('module', cls, file, source)
//   pickle 5  the list of root storage keys, in the order their data follows
//   then, per key: an int64 little-endian element count and numel × itemsize raw little-endian bytes.
// Storage data comes after the object pickle but the element sizes are only known from it, so the
// object pickle is read twice: once inertly to find where it ends and which storages it declares, then
// for real with the records located.
import { FormatError, q } from './errors.js';
import { unpickleAt, type PyGlobal, type UnpickleOptions } from './pickle.js';
import { ITEMSIZE, StorageRef, isCount, own, placeholder, storageType, withTensorRebuild, type StorageView } from './torch-storage.js';

const MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;

/** Element sizes of storage types Tessera cannot represent; needed only to step over their data. */
const OTHER_ITEMSIZE: Record<string, number> = {
  ComplexFloatStorage: 8,
  ComplexDoubleStorage: 16,
  QUInt8Storage: 1,
  QInt8Storage: 1,
  QInt32Storage: 4,
  QUInt4x2Storage: 1,
  QUInt2x4Storage: 1,
};

/** True when `bytes` starts with a pickle of the legacy magic number (any pickle protocol). */
export function isLegacyStream(bytes: Uint8Array): boolean {
  try {
    return unpickleAt(bytes, 0, {}, 'legacy header').value === MAGIC;
  } catch (e) {
    if (e instanceof FormatError) return false;
    throw e;
  }
}

interface Declared {
  type: string;
  numel: number;
  itemsize: number;
}

const show = (v: unknown): string => (typeof v === 'string' ? q(v) : typeof v === 'number' || typeof v === 'bigint' ? String(v) : typeof v);

/** Loads a legacy torch.save stream (see the top of this file). */
export function loadLegacy(bytes: Uint8Array): unknown {
  let pos = 0;
  const next = (what: string, opts: UnpickleOptions = {}): unknown => {
    const r = unpickleAt(bytes, pos, opts, what);
    pos = r.end;
    return r.value;
  };

  if (next('legacy header') !== MAGIC) throw new FormatError('legacy format: bad magic number');
  const version = next('legacy header');
  if (version !== PROTOCOL_VERSION) throw new FormatError(`legacy format: unsupported protocol version ${show(version)} (expected ${PROTOCOL_VERSION})`);
  const sysInfo = next('legacy header');
  if (sysInfo === null || typeof sysInfo !== 'object' || Object.getPrototypeOf(sysInfo) !== Object.prototype) {
    throw new FormatError('legacy format: sys_info is not a dict');
  }
  // Depending on the PyTorch version, a big-endian machine wrote the element counts and data in its own
  // byte order or converted them to little-endian, and the file does not say which: refuse, don't guess.
  if ((sysInfo as Record<string, unknown>).little_endian === false) {
    throw new FormatError('legacy format: file written on a big-endian machine is not supported; re-save it in the zip format');
  }
  const objectStart = pos;

  // Pass 1: which root storages the object declares, and where the object pickle ends.
  const storages = new Map<string, Declared>();
  const views = new Map<string, StorageView & { root: string }>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!Array.isArray(pid) || pid.length < 2) throw new FormatError('unsupported persistent id (expected a storage tuple)');
    // Whole-module saves name each module class once; torch.load returns the class itself.
    if (pid[0] === 'module') return pid[1];
    if (pid[0] !== 'storage' || pid.length < 5) throw new FormatError('unsupported persistent id (expected a storage tuple)');
    const [, type, key, , numel, viewMeta] = pid;
    if (typeof key !== 'string') throw new FormatError('storage key is not a string');
    if (!isCount(numel)) throw new FormatError(`storage ${q(key)}: bad element count`);
    const kind = storageType(type, key);
    const typeName = (type as PyGlobal).name;
    const itemsize = kind === 'untyped' ? 1 : kind ? ITEMSIZE[kind] : own(OTHER_ITEMSIZE, typeName);
    if (itemsize === undefined) throw new FormatError(`storage ${q(key)}: unknown storage type ${(type as PyGlobal).fullName}`);
    const prev = storages.get(key);
    if (!prev) storages.set(key, { type: typeName, numel, itemsize });
    else if (prev.type !== typeName || prev.numel !== numel) {
      throw new FormatError(`storage ${q(key)} is declared as both ${prev.type}(${prev.numel}) and ${typeName}(${numel})`);
    }

    let view: StorageView | null = null;
    if (viewMeta !== undefined && viewMeta !== null) {
      if (!Array.isArray(viewMeta) || viewMeta.length !== 3) throw new FormatError(`storage ${q(key)}: bad view metadata`);
      const [vkey, offset, size] = viewMeta as unknown[];
      if (typeof vkey !== 'string' || !isCount(offset) || !isCount(size)) throw new FormatError(`storage ${q(key)}: bad view metadata`);
      if (offset + size > numel) {
        throw new FormatError(`storage view ${q(vkey)} covers elements ${offset}..${offset + size} but storage ${q(key)} has ${numel}`);
      }
      const pv = views.get(vkey);
      if (!pv) views.set(vkey, { root: key, key: vkey, offset, numel: size });
      else if (pv.root !== key || pv.offset !== offset || pv.numel !== size)
        throw new FormatError(`storage view ${q(vkey)} is declared twice with different extents`);
      view = { key: vkey, offset, numel: size };
    }
    if (kind === undefined) return placeholder((type as PyGlobal).fullName, [key, numel]); // its tensor stays inert
    return new StorageRef(key, kind === 'untyped' ? null : kind, numel, view);
  };
  next('legacy pickle', { persistentLoad });

  // The storage list, then each storage's data in that order.
  const keys = next('legacy storage list');
  if (!Array.isArray(keys)) throw new FormatError('legacy format: the storage list is not a list');
  const records = new Map<string, Uint8Array>();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys as unknown[]) {
    if (typeof key !== 'string') throw new FormatError(`legacy format: storage list entry ${show(key)} is not a string`);
    const d = storages.get(key);
    if (!d) throw new FormatError(`legacy format: storage ${q(key)} is listed but no tensor uses it`);
    if (records.has(key)) throw new FormatError(`legacy format: storage ${q(key)} is listed twice`);
    if (bytes.length - pos < 8) throw new FormatError(`storage ${q(key)}: truncated (no element count at byte ${pos})`);
    const count = dv.getBigInt64(pos, true);
    if (count !== BigInt(d.numel)) throw new FormatError(`storage ${q(key)}: element count ${count} at byte ${pos} does not match the declared ${d.numel}`);
    pos += 8;
    const left = bytes.length - pos;
    if (d.numel > left / d.itemsize) throw new FormatError(`storage ${q(key)}: truncated (needs ${d.numel * d.itemsize} bytes at byte ${pos}, ${left} left)`);
    const n = d.numel * d.itemsize;
    records.set(key, bytes.subarray(pos, pos + n));
    pos += n;
  }
  for (const key of storages.keys())
    if (!records.has(key)) throw new FormatError(`legacy format: storage ${q(key)} has no data (missing from the storage list)`);
  if (pos !== bytes.length) throw new FormatError(`legacy format: ${bytes.length - pos} unexpected bytes after the last storage`);

  // Pass 2: the object for real. Every declared storage has a record, checked above.
  pos = objectStart;
  const source = { bigEndian: false, bytes: (ref: StorageRef): Uint8Array => records.get(ref.key)! };
  return withTensorRebuild(source, (globals) => next('legacy pickle', { globals, persistentLoad }));
}
