// A restricted Python unpickler (protocols 0–5, as far as torch.save and ordinary checkpoints use them).
//
// Safety model: nothing in the pickle is ever executed. GLOBAL/STACK_GLOBAL only resolve names against an
// allow-list of handlers written in TypeScript (a few builtins here, torch's rebuild functions supplied by
// the caller). Any other global becomes an inert placeholder; calling it (REDUCE/NEWOBJ/INST/OBJ) just
// records the class name and arguments. Every read is bounds-checked and every malformed input raises a
// one-line FormatError.
//
// Result mapping (done in a final pass so shared and cyclic references stay shared):
//   None → null, bool → boolean, int → number (bigint beyond ±2^53), float → number, str → string,
//   bytes/bytearray → Uint8Array, list/tuple → Array, set/frozenset → Set,
//   dict/OrderedDict → plain object in insertion order, keys converted with String() (None/True/False
//     → 'None'/'True'/'False'); a dict with other keys (tuples, …) or keys that collide after conversion
//     becomes a Map instead. Instance attributes of dicts (e.g. a state_dict's `_metadata`) are dropped.
//   unknown class instance → { __class__: 'module.Name', args, state } (+ `items` / `list` / `kwargs`
//     when the pickle filled it like a dict / list or passed keyword arguments),
//   a global that is referenced but never called → { __global__: 'module.Name' }.
//   Values produced by handlers (e.g. Tensors) are returned as they are.
import { FormatError, q } from './errors.js';

/** What a handler does when the pickle calls an allow-listed global. */
export interface GlobalHandler {
  /** REDUCE / INST / OBJ: `callable(*args)`. */
  call?: (args: unknown[]) => unknown;
  /** NEWOBJ: `cls.__new__(cls, *args)`; the pickle may then fill it with SETITEMS/APPENDS/BUILD. */
  newobj?: (args: unknown[]) => unknown;
}

export interface UnpickleOptions {
  /** Allow-listed globals beyond the built-in ones, keyed 'module.name'. */
  globals?: ReadonlyMap<string, GlobalHandler>;
  /** Resolves BINPERSID/PERSID ids (torch uses them for storages). Without it they are an error. */
  persistentLoad?: (pid: unknown) => unknown;
}

/** A placeholder for an instance of a class that is not on the allow-list (the result form). */
export interface PickledObject {
  __class__: string;
  args: unknown[];
  state: unknown;
  items?: Record<string, unknown> | Map<unknown, unknown>;
  list?: unknown[];
  kwargs?: unknown;
}

// ---------------------------------------------------------------- internal value types
/** A resolved GLOBAL. `handler` is undefined for names outside the allow-list. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly handler: GlobalHandler | undefined,
  ) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python dict while unpickling (keys compared like JS Map keys: fine for str/int keys). */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
}

/** An inert instance of a non-allow-listed class. */
export class PyObject {
  state: unknown = null;
  listItems: unknown[] | undefined;
  dictItems: PyDict | undefined;
  kwargs: unknown;
  constructor(
    readonly cls: string,
    readonly args: unknown[],
  ) {}
}

const fmtName = (v: unknown): string => (v instanceof PyGlobal ? v.fullName : typeName(v));
function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return `global ${v.fullName}`;
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyObject) return v.cls;
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Set) return 'set';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

// ---------------------------------------------------------------- built-in allow-list
function bytesFrom(args: unknown[]): Uint8Array {
  if (args.length === 0) return new Uint8Array(0);
  const [src, enc] = args;
  if (typeof src === 'string') return encodeString(src, typeof enc === 'string' ? enc : 'utf-8');
  if (Array.isArray(src) && src.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 256)) return Uint8Array.from(src as number[]);
  if (src instanceof Uint8Array) return src.slice();
  throw new FormatError(`pickle: cannot build bytes from ${typeName(src)}`);
}

function encodeString(s: string, encoding: string): Uint8Array {
  const enc = encoding.toLowerCase().replace(/_/g, '-');
  if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') {
    // How protocol-2 pickles carry Python 3 bytes: _codecs.encode(b.decode('latin1'), 'latin1').
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw new FormatError(`pickle: character U+${c.toString(16)} cannot be latin-1 encoded`);
      out[i] = c;
    }
    return out;
  }
  if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(s);
  if (enc === 'ascii') return encodeString(s, 'latin-1');
  throw new FormatError(`pickle: unsupported encoding ${q(encoding)} in _codecs.encode`);
}

function iterableItems(v: unknown, what: string): unknown[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (v instanceof Set) return [...v];
  if (v instanceof PyDict) return [...v.map.keys()];
  throw new FormatError(`pickle: ${what} expects an iterable, got ${typeName(v)}`);
}

function dictFrom(args: unknown[]): PyDict {
  const d = new PyDict();
  const src = args[0];
  if (src instanceof PyDict) for (const [k, v] of src.map) d.map.set(k, v);
  else if (src !== undefined) {
    for (const pair of iterableItems(src, 'dict()')) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new FormatError('pickle: dict() expects (key, value) pairs');
      d.map.set(pair[0], pair[1]);
    }
  }
  return d;
}

const dictLike: GlobalHandler = { call: dictFrom, newobj: () => new PyDict() };
const setLike: GlobalHandler = { call: (a) => new Set(iterableItems(a[0], 'set()')) };
const bytesLike: GlobalHandler = { call: bytesFrom, newobj: bytesFrom };

const BUILTIN_GLOBALS = new Map<string, GlobalHandler>([
  ['collections.OrderedDict', dictLike],
  ['builtins.dict', dictLike],
  ['builtins.set', setLike],
  ['builtins.frozenset', setLike],
  ['builtins.bytes', bytesLike],
  ['builtins.bytearray', bytesLike],
  ['builtins.list', { call: (a) => [...iterableItems(a[0], 'list()')] }],
  ['builtins.tuple', { call: (a) => Object.freeze([...iterableItems(a[0], 'tuple()')]) }],
  [
    '_codecs.encode',
    {
      call: (a) => {
        if (typeof a[0] !== 'string') throw new FormatError('pickle: _codecs.encode expects a string');
        return encodeString(a[0], typeof a[1] === 'string' ? a[1] : 'utf-8');
      },
    },
  ],
  // Lightning's hyper-parameter container is a plain dict subclass: treat it as a dict.
  ['pytorch_lightning.utilities.parsing.AttributeDict', dictLike],
  ['lightning_fabric.utilities.data.AttributeDict', dictLike],
  ['lightning.fabric.utilities.data.AttributeDict', dictLike],
]);

/** Python 2 module names that protocol ≤ 2 pickles use (pickle's fix_imports mapping, the part we need). */
const PY2_MODULES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

// ---------------------------------------------------------------- opcodes
const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  LONG: 0x4c,
  BININT2: 0x4d,
  NONE: 0x4e,
  PERSID: 0x50,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  GET: 0x67,
  BINGET: 0x68,
  INST: 0x69,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  OBJ: 0x6f,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  // protocol 2
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // protocol 3
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  // protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  // protocol 5
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

/** Python ints beyond this many bytes are refused (no real checkpoint has them; BigInt work is superlinear). */
const MAX_LONG_BYTES = 4096;
/** Deepest container nesting accepted in the final conversion (Python's own pickler recurses ~1000 deep). */
const MAX_DEPTH = 2000;

const utf8 = new TextDecoder('utf-8');

/** Normalizes a Python int: a JS number when exact, else a bigint. */
function pyInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Unpickles `data` with the restrictions above and returns the converted JS value.
 * `what` names the stream in error messages (e.g. 'archive/data.pkl').
 */
export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}, what = 'pickle'): unknown {
  return finalize(new Machine(data, opts, what).run());
}

/**
 * Unpickles the one pickle that starts at byte `start` of a stream holding several in a row (the legacy
 * torch.save format), and returns its value and the offset just past its STOP opcode.
 */
export function unpickleAt(data: Uint8Array, start: number, opts: UnpickleOptions = {}, what = 'pickle'): { value: unknown; end: number } {
  const m = new Machine(data, opts, what, start);
  const value = finalize(m.run());
  return { value, end: m.position };
}

class Machine {
  #pos: number;
  readonly #dv: DataView;
  readonly #stack: unknown[] = [];
  readonly #marks: number[] = [];
  readonly #memo = new Map<number, unknown>();

  constructor(
    readonly data: Uint8Array,
    readonly opts: UnpickleOptions,
    readonly what: string,
    start = 0,
  ) {
    this.#dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.#pos = start;
  }

  get position(): number {
    return this.#pos;
  }

  /** Offset of the opcode being executed (error positions point at it). */
  #opStart = 0;

  #fail(msg: string, at = this.#opStart): never {
    throw new FormatError(`${this.what}: ${msg} at byte ${at}`);
  }

  // ---- reading
  #need(n: number): void {
    if (n < 0 || this.#pos + n > this.data.length) this.#fail(`truncated (needs ${n} more bytes, ${this.data.length - this.#pos} left)`);
  }
  #u8(): number {
    this.#need(1);
    return this.data[this.#pos++]!;
  }
  #u16(): number {
    this.#need(2);
    const v = this.#dv.getUint16(this.#pos, true);
    this.#pos += 2;
    return v;
  }
  #u32(): number {
    this.#need(4);
    const v = this.#dv.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }
  #i32(): number {
    this.#need(4);
    const v = this.#dv.getInt32(this.#pos, true);
    this.#pos += 4;
    return v;
  }
  #u64(): number {
    this.#need(8);
    const v = this.#dv.getBigUint64(this.#pos, true);
    this.#pos += 8;
    if (v > BigInt(this.data.length)) this.#fail(`length ${v} exceeds the ${this.data.length}-byte stream`);
    return Number(v);
  }
  #bytes(n: number): Uint8Array {
    this.#need(n);
    const b = this.data.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }
  #lineBytes(): Uint8Array {
    const end = this.data.indexOf(0x0a, this.#pos);
    if (end < 0) this.#fail('truncated (unterminated text line)');
    const b = this.data.subarray(this.#pos, end);
    this.#pos = end + 1;
    return b;
  }
  #line(): string {
    const s = utf8.decode(this.#lineBytes());
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  }
  #long(n: number): number | bigint {
    if (n > MAX_LONG_BYTES) this.#fail(`integer of ${n} bytes is too large`);
    const b = this.#bytes(n);
    if (n === 0) return 0;
    let hex = '';
    for (let i = n - 1; i >= 0; i--) hex += b[i]!.toString(16).padStart(2, '0');
    let v = BigInt('0x' + hex);
    if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n); // two's complement
    return pyInt(v);
  }

  // ---- stack
  get #fence(): number {
    return this.#marks.length ? this.#marks[this.#marks.length - 1]! : 0;
  }
  #pop(): unknown {
    if (this.#stack.length <= this.#fence) this.#fail('stack underflow');
    return this.#stack.pop();
  }
  #top(): unknown {
    if (this.#stack.length <= this.#fence) this.#fail('stack underflow');
    return this.#stack[this.#stack.length - 1];
  }
  #popMark(): unknown[] {
    const m = this.#marks.pop();
    if (m === undefined) this.#fail('MARK missing');
    return this.#stack.splice(m);
  }
  #tuple(items: unknown[]): readonly unknown[] {
    return Object.freeze(items);
  }

  // ---- object model
  #global(module: string, name: string): PyGlobal {
    const mod = Object.hasOwn(PY2_MODULES, module) ? PY2_MODULES[module]! : module;
    const key = `${mod}.${name}`;
    return new PyGlobal(mod, name, this.opts.globals?.get(key) ?? BUILTIN_GLOBALS.get(key));
  }
  #call(callee: unknown, args: unknown): unknown {
    if (!Array.isArray(args)) this.#fail(`call arguments must be a tuple, got ${typeName(args)}`);
    if (callee instanceof PyGlobal && callee.handler?.call) return callee.handler.call([...args]);
    return new PyObject(fmtName(callee), [...args]);
  }
  #newobj(cls: unknown, args: unknown): unknown {
    if (!Array.isArray(args)) this.#fail(`NEWOBJ arguments must be a tuple, got ${typeName(args)}`);
    if (cls instanceof PyGlobal && cls.handler?.newobj) return cls.handler.newobj([...args]);
    return new PyObject(fmtName(cls), [...args]);
  }
  #setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2) this.#fail('SETITEMS with an odd number of items');
    let d: PyDict;
    if (target instanceof PyDict) d = target;
    else if (target instanceof PyObject) d = target.dictItems ??= new PyDict();
    else return this.#fail(`cannot set items on a ${typeName(target)}`);
    for (let i = 0; i < items.length; i += 2) d.map.set(items[i], items[i + 1]);
  }
  #append(target: unknown, items: unknown[]): void {
    let list: unknown[];
    if (Array.isArray(target) && !Object.isFrozen(target)) list = target;
    else if (target instanceof PyObject) list = target.listItems ??= [];
    else return this.#fail(`cannot append to a ${typeName(target)}`);
    for (const x of items) list.push(x); // not push(...items): a huge batch would overflow the call stack
  }
  #build(target: unknown, state: unknown): void {
    // Only placeholders record state. For other values (tensors, dicts with attributes, …) the state
    // would set Python attributes we have no use for, so it is ignored rather than rejected.
    if (target instanceof PyObject) target.state = state;
  }

  run(): unknown {
    const d = this.data;
    for (;;) {
      const at = (this.#opStart = this.#pos);
      if (at >= d.length) this.#fail('truncated (no STOP opcode)');
      const op = d[this.#pos++]!;
      switch (op) {
        case OP.PROTO: {
          const v = this.#u8();
          if (v > 5) this.#fail(`unsupported pickle protocol ${v}`, at);
          break;
        }
        case OP.FRAME:
          this.#u64(); // framing is only a read-ahead hint
          break;
        case OP.STOP: {
          const v = this.#pop();
          return v;
        }
        case OP.MARK:
          this.#marks.push(this.#stack.length);
          break;
        case OP.POP:
          if (this.#stack.length > this.#fence) this.#stack.pop();
          else this.#popMark(); // Python pops a mark when the stack above it is empty
          break;
        case OP.POP_MARK:
          this.#popMark();
          break;
        case OP.DUP:
          this.#stack.push(this.#top());
          break;

        // ---- scalars
        case OP.NONE:
          this.#stack.push(null);
          break;
        case OP.NEWTRUE:
          this.#stack.push(true);
          break;
        case OP.NEWFALSE:
          this.#stack.push(false);
          break;
        case OP.BININT:
          this.#stack.push(this.#i32());
          break;
        case OP.BININT1:
          this.#stack.push(this.#u8());
          break;
        case OP.BININT2:
          this.#stack.push(this.#u16());
          break;
        case OP.LONG1:
          this.#stack.push(this.#long(this.#u8()));
          break;
        case OP.LONG4: {
          const n = this.#i32();
          if (n < 0) this.#fail('negative LONG4 length', at);
          this.#stack.push(this.#long(n));
          break;
        }
        case OP.BINFLOAT: {
          this.#need(8);
          this.#stack.push(this.#dv.getFloat64(this.#pos, false)); // big-endian, unlike everything else
          this.#pos += 8;
          break;
        }
        case OP.INT: {
          const s = this.#line();
          if (s === '01' || s === '00')
            this.#stack.push(s === '01'); // protocol-0 booleans
          else if (/^[+-]?\d+$/.test(s) && s.length <= 2 * MAX_LONG_BYTES) this.#stack.push(pyInt(BigInt(s)));
          else this.#fail(`bad INT ${JSON.stringify(s.slice(0, 40))}`, at);
          break;
        }
        case OP.LONG: {
          const s = this.#line().replace(/L$/, '');
          if (!/^[+-]?\d+$/.test(s) || s.length > 2 * MAX_LONG_BYTES) this.#fail(`bad LONG ${JSON.stringify(s.slice(0, 40))}`, at);
          this.#stack.push(pyInt(BigInt(s)));
          break;
        }
        case OP.FLOAT: {
          const s = this.#line().trim();
          const v = /^(nan|[+-]?inf)$/i.test(s) ? (s.toLowerCase() === 'nan' ? NaN : s.startsWith('-') ? -Infinity : Infinity) : Number(s);
          if (Number.isNaN(v) && s.toLowerCase() !== 'nan') this.#fail(`bad FLOAT ${JSON.stringify(s.slice(0, 40))}`, at);
          this.#stack.push(v);
          break;
        }

        // ---- strings and bytes
        case OP.BINUNICODE:
          this.#stack.push(utf8.decode(this.#bytes(this.#u32())));
          break;
        case OP.SHORT_BINUNICODE:
          this.#stack.push(utf8.decode(this.#bytes(this.#u8())));
          break;
        case OP.BINUNICODE8:
          this.#stack.push(utf8.decode(this.#bytes(this.#u64())));
          break;
        case OP.BINSTRING: {
          const n = this.#i32();
          if (n < 0) this.#fail('negative BINSTRING length', at);
          this.#stack.push(utf8.decode(this.#bytes(n))); // Python 2 str; torch.load decodes as UTF-8
          break;
        }
        case OP.SHORT_BINSTRING:
          this.#stack.push(utf8.decode(this.#bytes(this.#u8())));
          break;
        case OP.BINBYTES:
          this.#stack.push(this.#bytes(this.#u32()).slice());
          break;
        case OP.SHORT_BINBYTES:
          this.#stack.push(this.#bytes(this.#u8()).slice());
          break;
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          this.#stack.push(this.#bytes(this.#u64()).slice());
          break;
        case OP.STRING: {
          const v = decodePyRepr(this.#lineBytes());
          if (v === undefined) this.#fail('bad STRING literal', at);
          this.#stack.push(utf8.decode(v));
          break;
        }
        case OP.UNICODE:
          this.#stack.push(decodeRawUnicodeEscape(this.#lineBytes()));
          break;

        // ---- containers
        case OP.EMPTY_DICT:
          this.#stack.push(new PyDict());
          break;
        case OP.EMPTY_LIST:
          this.#stack.push([]);
          break;
        case OP.EMPTY_TUPLE:
          this.#stack.push(this.#tuple([]));
          break;
        case OP.EMPTY_SET:
          this.#stack.push(new Set());
          break;
        case OP.TUPLE:
          this.#stack.push(this.#tuple(this.#popMark()));
          break;
        case OP.TUPLE1: {
          const a = this.#pop();
          this.#stack.push(this.#tuple([a]));
          break;
        }
        case OP.TUPLE2: {
          const b = this.#pop();
          const a = this.#pop();
          this.#stack.push(this.#tuple([a, b]));
          break;
        }
        case OP.TUPLE3: {
          const c = this.#pop();
          const b = this.#pop();
          const a = this.#pop();
          this.#stack.push(this.#tuple([a, b, c]));
          break;
        }
        case OP.LIST:
          this.#stack.push(this.#popMark());
          break;
        case OP.DICT: {
          const items = this.#popMark();
          const dict = new PyDict();
          this.#setItems(dict, items);
          this.#stack.push(dict);
          break;
        }
        case OP.FROZENSET:
          this.#stack.push(new Set(this.#popMark()));
          break;
        case OP.APPEND: {
          const v = this.#pop();
          this.#append(this.#top(), [v]);
          break;
        }
        case OP.APPENDS: {
          const items = this.#popMark();
          this.#append(this.#top(), items);
          break;
        }
        case OP.SETITEM: {
          const v = this.#pop();
          const k = this.#pop();
          this.#setItems(this.#top(), [k, v]);
          break;
        }
        case OP.SETITEMS: {
          const items = this.#popMark();
          this.#setItems(this.#top(), items);
          break;
        }
        case OP.ADDITEMS: {
          const items = this.#popMark();
          const s = this.#top();
          if (!(s instanceof Set)) this.#fail(`ADDITEMS on a ${typeName(s)}`, at);
          for (const x of items) s.add(x);
          break;
        }

        // ---- memo
        case OP.BINPUT:
          this.#memo.set(this.#u8(), this.#top());
          break;
        case OP.LONG_BINPUT:
          this.#memo.set(this.#u32(), this.#top());
          break;
        case OP.MEMOIZE:
          this.#memo.set(this.#memo.size, this.#top());
          break;
        case OP.PUT: {
          const s = this.#line();
          if (!/^\d{1,15}$/.test(s)) this.#fail('bad PUT index', at);
          this.#memo.set(Number(s), this.#top());
          break;
        }
        case OP.BINGET:
        case OP.LONG_BINGET:
        case OP.GET: {
          let idx: number;
          if (op === OP.BINGET) idx = this.#u8();
          else if (op === OP.LONG_BINGET) idx = this.#u32();
          else {
            const s = this.#line();
            if (!/^\d{1,15}$/.test(s)) this.#fail('bad GET index', at);
            idx = Number(s);
          }
          if (!this.#memo.has(idx)) this.#fail(`memo key ${idx} not found`, at);
          this.#stack.push(this.#memo.get(idx));
          break;
        }

        // ---- objects
        case OP.GLOBAL: {
          const module = this.#line();
          const name = this.#line();
          this.#stack.push(this.#global(module, name));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.#pop();
          const module = this.#pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.#fail('STACK_GLOBAL needs two strings', at);
          this.#stack.push(this.#global(module, name));
          break;
        }
        case OP.REDUCE: {
          const args = this.#pop();
          const callee = this.#pop();
          this.#stack.push(this.#call(callee, args));
          break;
        }
        case OP.NEWOBJ: {
          const args = this.#pop();
          const cls = this.#pop();
          this.#stack.push(this.#newobj(cls, args));
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.#pop();
          const args = this.#pop();
          const cls = this.#pop();
          const obj = this.#newobj(cls, args);
          if (obj instanceof PyObject) obj.kwargs = kwargs;
          this.#stack.push(obj);
          break;
        }
        case OP.INST: {
          const module = this.#line();
          const name = this.#line();
          this.#stack.push(this.#call(this.#global(module, name), this.#popMark()));
          break;
        }
        case OP.OBJ: {
          const items = this.#popMark();
          if (items.length === 0) this.#fail('OBJ without a class', at);
          this.#stack.push(this.#call(items[0], items.slice(1)));
          break;
        }
        case OP.BUILD: {
          const state = this.#pop();
          this.#build(this.#top(), state);
          break;
        }
        case OP.BINPERSID:
        case OP.PERSID: {
          const pid = op === OP.PERSID ? this.#line() : this.#pop();
          if (!this.opts.persistentLoad) this.#fail('persistent id found but no persistent_load is available', at);
          this.#stack.push(this.opts.persistentLoad(pid));
          break;
        }
        case OP.READONLY_BUFFER:
          this.#top();
          break;
        case OP.NEXT_BUFFER:
          this.#fail('out-of-band buffers (NEXT_BUFFER) are not supported', at);
          break;
        case OP.EXT1:
        case OP.EXT2:
        case OP.EXT4:
          this.#fail('extension registry opcodes (EXT1/2/4) are not supported', at);
          break;
        default:
          this.#fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`, at);
      }
    }
  }
}

// ---------------------------------------------------------------- protocol-0 text strings
/** UNICODE payloads: latin-1 bytes with \\uXXXX and \\UXXXXXXXX escapes (Python's raw-unicode-escape). */
function decodeRawUnicodeEscape(b: Uint8Array): string {
  let out = '';
  const hex = (from: number, n: number): number | undefined => {
    if (from + n > b.length) return undefined;
    let v = 0;
    for (let j = from; j < from + n; j++) {
      const d = parseInt(String.fromCharCode(b[j]!), 16);
      if (Number.isNaN(d)) return undefined;
      v = v * 16 + d;
    }
    return v;
  };
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x5c && (b[i + 1] === 0x75 || b[i + 1] === 0x55)) {
      const n = b[i + 1] === 0x75 ? 4 : 8;
      const cp = hex(i + 2, n);
      if (cp === undefined || cp > 0x10ffff) throw new FormatError('pickle: bad \\u escape in UNICODE');
      out += String.fromCodePoint(cp);
      i += 1 + n;
    } else out += String.fromCharCode(c);
  }
  return out;
}

/** STRING payloads: a Python 2 str repr such as 'it\'s' or "a\x00b" (bytes). Returns the bytes, or undefined. */
function decodePyRepr(line: Uint8Array): Uint8Array | undefined {
  let n = line.length;
  if (n && line[n - 1] === 0x0d) n--;
  const quote = line[0];
  if (n < 2 || (quote !== 0x27 && quote !== 0x22) || line[n - 1] !== quote) return undefined;
  const body = Buffer.from(line.buffer, line.byteOffset + 1, n - 2).toString('latin1'); // one char per byte
  const out: number[] = [];
  const SIMPLE: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34 };
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 0x5c) {
      out.push(c);
      continue;
    }
    const e = body[++i];
    if (e === undefined) return undefined;
    if (Object.hasOwn(SIMPLE, e)) out.push(SIMPLE[e]!);
    else if (e === 'x') {
      const h = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
      out.push(parseInt(h, 16));
      i += 2;
    } else if (e >= '0' && e <= '7') {
      const m = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      out.push(parseInt(m, 8) & 0xff);
      i += m.length - 1;
    } else out.push(92, e.charCodeAt(0)); // unknown escapes stay literal, as in Python
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------- conversion to JS values
function keyString(k: unknown): string | undefined {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (k === null) return 'None';
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  return undefined;
}

function setOwn(obj: Record<string, unknown>, k: string, v: unknown): void {
  // defineProperty, not assignment: a key named "__proto__" must become a plain own property.
  Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function finalize(root: unknown): unknown {
  const done = new Map<object, unknown>();

  const convertDict = (d: PyDict, depth: number): Record<string, unknown> | Map<unknown, unknown> => {
    const keys = [...d.map.keys()].map(keyString);
    const plain = keys.every((k) => k !== undefined) && new Set(keys).size === keys.length;
    if (plain) {
      const out: Record<string, unknown> = {};
      done.set(d, out);
      let i = 0;
      for (const v of d.map.values()) setOwn(out, keys[i++]!, conv(v, depth + 1));
      return out;
    }
    const out = new Map<unknown, unknown>();
    done.set(d, out);
    for (const [k, v] of d.map) out.set(conv(k, depth + 1), conv(v, depth + 1));
    return out;
  };

  const conv = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (done.has(v)) return done.get(v);
    if (depth > MAX_DEPTH) throw new FormatError(`pickle: containers nested deeper than ${MAX_DEPTH}`);
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      done.set(v, out);
      for (const x of v) out.push(conv(x, depth + 1));
      return out;
    }
    if (v instanceof PyDict) return convertDict(v, depth);
    if (v instanceof Set) {
      const out = new Set<unknown>();
      done.set(v, out);
      for (const x of v) out.add(conv(x, depth + 1));
      return out;
    }
    if (v instanceof PyObject) {
      const out: PickledObject = { __class__: v.cls, args: [], state: null };
      done.set(v, out);
      out.args = v.args.map((x) => conv(x, depth + 1));
      out.state = conv(v.state, depth + 1);
      if (v.dictItems) out.items = convertDict(v.dictItems, depth + 1);
      if (v.listItems) out.list = v.listItems.map((x) => conv(x, depth + 1));
      if (v.kwargs !== undefined) out.kwargs = conv(v.kwargs, depth + 1);
      return out;
    }
    if (v instanceof PyGlobal) {
      const out = { __global__: v.fullName };
      done.set(v, out);
      return out;
    }
    return v; // Uint8Array, Tensor and other handler-made values
  };
  return conv(root, 0);
}
