// Generates the op bindings from native/ops.def:
//   native/generated/ops_<k>.cpp  – one N-API function per op (split in parts to compile in parallel)
//   src/torch/ops.generated.ts    – typed wrappers, exported functions and Tensor methods
// Deterministic: the same table gives byte-identical output.
//   node native/gen-ops.mjs           write the files that changed
//   node native/gen-ops.mjs --check   write nothing; exit 1 listing the files that are out of date
// Importable: generateOps(defText) returns { path relative to the repo root: content } without
// touching the disk (test/bindings.test.ts compares it with the committed files).
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const PARTS = 3;

const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase()).replace(/_$/, '_');
const jsName = (s) => (s.endsWith('_') ? camel(s.slice(0, -1)) + '_' : camel(s));
const RESERVED = new Set(['var', 'delete', 'new', 'in', 'function', 'default']);

function splitArgs(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function parseLine(line, lineNo) {
  const m = /^(\S+)\s+(?:(\w+)\s*=\s*)?(\w+)\((.*)\)\s*->\s*(.+)$/.exec(line);
  if (!m) throw new Error(`ops.def:${lineNo}: cannot parse: ${line}`);
  const [, flags, alias, cpp, argStr, ret] = m;
  const args = splitArgs(argStr).map((a) => {
    const am = /^(\S+)\s+(\w+)(?:=(.+))?$/.exec(a);
    if (!am) throw new Error(`ops.def:${lineNo}: bad argument '${a}'`);
    return { type: am[1], name: am[2], def: am[3] };
  });
  const name = alias ?? cpp;
  return { flags, name, cpp, args, ret: ret.trim(), js: jsName(name), line: lineNo };
}

function parseOps(defText) {
  return defText
    .split('\n')
    .map((l, i) => [l.trim(), i + 1])
    .filter(([l]) => l && !l.startsWith('#'))
    .map(([l, i]) => parseLine(l, i));
}

// ---------------------------------------------------------------- C++
function cppDefault(arg) {
  const d = arg.def;
  const t = arg.type;
  if (d === 'None') return null;
  if (t === 'bool') return d === 'True' ? 'true' : 'false';
  if (t.startsWith('int[')) {
    if (d === '[]') return '{}';
    const n = /^int\[(\d+)\]/.exec(t);
    if (/^-?\d+$/.test(d)) return n ? `std::vector<int64_t>(${n[1]}, ${d})` : `std::vector<int64_t>{${d}}`;
    return `std::vector<int64_t>{${d.slice(1, -1)}}`;
  }
  if (t === 'Reduction') return `at::Reduction::${d === '"none"' ? 'None' : d === '"sum"' ? 'Sum' : 'Mean'}`;
  if (t === 'MemoryFormat') return d === '"channels_last"' ? 'at::MemoryFormat::ChannelsLast' : 'at::MemoryFormat::Contiguous';
  if (t === 'str') return `std::string(${d})`;
  if (t === 'Scalar') return `at::Scalar(${/[.e]/.test(d) ? `double(${d})` : `int64_t(${d})`})`;
  return d;
}

function cppArg(arg, i) {
  const v = `info[${i}]`;
  const n = JSON.stringify(arg.name);
  const t = arg.type;
  const def = arg.def !== undefined ? cppDefault(arg) : undefined;
  const withDefault = (conv, ctype) =>
    def !== undefined && def !== null ? `${ctype} a${i} = isNone(${v}) ? ${ctype}(${def}) : ${conv};` : `${ctype} a${i} = ${conv};`;
  const opt = (ctype, conv) => `c10::optional<${ctype}> a${i} = isNone(${v}) ? c10::nullopt : c10::optional<${ctype}>(${conv});`;
  switch (t) {
    case 'Tensor':
    case 'TensorS':
      return [`at::Tensor a${i} = toTensor(${v}, ${n});`];
    case 'Tensor?':
      return [`c10::optional<at::Tensor> a${i} = toTensorOpt(${v}, ${n});`];
    case 'Tensor[]':
      return [`std::vector<at::Tensor> a${i} = toTensorVec(${v}, ${n});`];
    case 'Tensor?[]':
      return [`c10::List<c10::optional<at::Tensor>> a${i} = toTensorOptList(${v}, ${n});`];
    case 'int':
      return [withDefault(`toInt(${v}, ${n})`, 'int64_t')];
    case 'int?':
      return [def === undefined || def === null ? opt('int64_t', `toInt(${v}, ${n})`) : withDefault(`toInt(${v}, ${n})`, 'int64_t')];
    case 'float':
      return [withDefault(`toDouble(${v}, ${n})`, 'double')];
    case 'float?':
      return [opt('double', `toDouble(${v}, ${n})`)];
    case 'bool':
      return [withDefault(`toBool(${v}, ${n})`, 'bool')];
    case 'Scalar':
      return [withDefault(`toScalar(${v}, ${n})`, 'at::Scalar')];
    case 'Scalar?':
      return [opt('at::Scalar', `toScalar(${v}, ${n})`)];
    case 'ScalarType':
      return [`at::ScalarType a${i} = toDtype(${v}, ${n});`];
    case 'ScalarType?':
      return [opt('at::ScalarType', `toDtype(${v}, ${n})`)];
    case 'str':
      return [withDefault(`toStr(${v}, ${n})`, 'std::string')];
    case 'str?':
      return [
        `c10::optional<std::string> s${i} = isNone(${v}) ? c10::nullopt : c10::optional<std::string>(toStr(${v}, ${n}));`,
        `c10::optional<c10::string_view> a${i} = s${i} ? c10::optional<c10::string_view>(*s${i}) : c10::nullopt;`,
      ];
    case 'MemoryFormat':
      return [withDefault(`toMemoryFormat(${v}, ${n})`, 'at::MemoryFormat')];
    case 'MemoryFormat?':
      return [opt('at::MemoryFormat', `toMemoryFormat(${v}, ${n})`)];
    case 'Reduction':
      return [withDefault(`toReduction(${v}, ${n})`, 'int64_t')];
    case 'Options': {
      const lines = [`at::TensorOptions a${i} = toOptions(${v}, ${n});`];
      // options=int64 gives the factory PyTorch's integer default dtype (randint).
      const dflt = { int64: 'at::kLong', float32: 'at::kFloat' }[arg.def];
      if (dflt) lines.push(`if (!a${i}.has_dtype()) a${i} = a${i}.dtype(${dflt});`);
      return lines;
    }
    case 'Generator?':
      return [`c10::optional<at::Generator> a${i} = toGeneratorOpt(${v}, ${n});`];
    case 'float[]?':
      return [
        `c10::optional<std::vector<double>> s${i} = isNone(${v}) ? c10::nullopt : c10::optional<std::vector<double>>(toDoubleVec(${v}, ${n}));`,
        `c10::optional<at::ArrayRef<double>> a${i} = s${i} ? c10::optional<at::ArrayRef<double>>(*s${i}) : c10::nullopt;`,
      ];
    default: {
      const m = /^int\[(\d*)\](\?)?$/.exec(t);
      if (!m) throw new Error(`ops.def: unknown type ${t}`);
      const bc = m[1] ? Number(m[1]) : 0;
      if (m[2]) {
        return [
          `c10::optional<std::vector<int64_t>> s${i} = isNone(${v}) ? c10::nullopt : c10::optional<std::vector<int64_t>>(toIntVec(${v}, ${n}, ${bc}));`,
          `at::OptionalIntArrayRef a${i} = s${i} ? at::OptionalIntArrayRef(*s${i}) : c10::nullopt;`,
        ];
      }
      return [withDefault(`toIntVec(${v}, ${n}, ${bc})`, 'std::vector<int64_t>')];
    }
  }
}

function cppCall(op) {
  const names = op.args.map((_, i) => `a${i}`);
  if (op.flags.includes('M')) return `a0.${op.cpp}(${names.slice(1).join(', ')})`;
  const ns = op.flags.includes('T') ? 'torch' : 'at';
  return `${ns}::${op.cpp}(${names.join(', ')})`;
}

function cppReturn(op, call) {
  const r = op.ret;
  if (r === 'Tensor') return `return fromTensor(env, ${call});`;
  if (r === 'Tensor[]') return `return fromTensorVec(env, ${call});`;
  if (r === 'self') return `${call};\n    return env.Undefined();`;
  if (r === 'bool') return `return Napi::Boolean::New(env, ${call});`;
  if (r === 'int' || r === 'float') return `return Napi::Number::New(env, static_cast<double>(${call}));`;
  if (r === 'Scalar') return `return fromScalar(env, ${call});`;
  const tup = /^\((.*)\)$/.exec(r);
  if (tup) {
    const n = tup[1].split(',').length;
    const items = Array.from({ length: n }, (_, k) => `std::get<${k}>(r)`).join(', ');
    return `auto r = ${call};\n    return fromTensorVec(env, {${items}});`;
  }
  throw new Error(`ops.def:${op.line}: unknown return ${r}`);
}

function cppFunction(op) {
  const lines = op.args.flatMap((a, i) => cppArg(a, i));
  return `static Napi::Value op_${op.name}(const Napi::CallbackInfo& info) {
  return guard(info, ${JSON.stringify(op.name)}, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    ${lines.join('\n    ')}
    ${cppReturn(op, cppCall(op))}
  });
}
`;
}

function cppFiles(ops) {
  const files = {};
  for (let k = 0; k < PARTS; k++) {
    const part = ops.filter((_, i) => i % PARTS === k);
    files[`native/generated/ops_${k}.cpp`] = `// GENERATED by native/gen-ops.mjs from native/ops.def — do not edit.
#include "../tessera.h"

namespace tessera {

${part.map(cppFunction).join('\n')}
void RegisterOpsPart${k}(Napi::Env env, Napi::Object exports) {
${part.map((op) => `  exports.Set(${JSON.stringify(op.name)}, Napi::Function::New(env, op_${op.name}, ${JSON.stringify(op.name)}));`).join('\n')}
}

}  // namespace tessera
`;
  }
  files['native/generated/ops_index.cpp'] = `// GENERATED by native/gen-ops.mjs — do not edit.
#include "../tessera.h"
namespace tessera {
${Array.from({ length: PARTS }, (_, k) => `void RegisterOpsPart${k}(Napi::Env env, Napi::Object exports);`).join('\n')}
void RegisterGeneratedOps(Napi::Env env, Napi::Object exports) {
${Array.from({ length: PARTS }, (_, k) => `  RegisterOpsPart${k}(env, exports);`).join('\n')}
}
}  // namespace tessera
`;
  return files;
}

// ---------------------------------------------------------------- TypeScript
function tsType(arg) {
  const t = arg.type;
  switch (t) {
    case 'Tensor':
      return 'Tensor';
    case 'TensorS':
      return 'TensorLike';
    case 'Tensor?':
      return 'Tensor | null';
    case 'Tensor[]':
      return 'readonly Tensor[]';
    case 'Tensor?[]':
      return 'readonly (Tensor | null)[]';
    case 'int':
    case 'int?':
    case 'float':
    case 'float?':
      return t.endsWith('?') ? 'number | null' : 'number';
    case 'bool':
      return 'boolean';
    case 'Scalar':
      return 'number | boolean';
    case 'Scalar?':
      return 'number | boolean | null';
    case 'ScalarType':
      return 'DType';
    case 'ScalarType?':
      return 'DType | null';
    case 'str':
      return 'string';
    case 'str?':
      return 'string | null';
    case 'MemoryFormat':
      return 'MemoryFormat';
    case 'MemoryFormat?':
      return 'MemoryFormat | null';
    case 'Reduction':
      return 'Reduction';
    case 'Options':
      return 'TensorOptions';
    case 'Generator?':
      return 'Generator | null';
    case 'float[]?':
      return 'readonly number[] | null';
    default: {
      const m = /^int\[(\d*)\](\?)?$/.exec(t);
      const base = m[1] ? 'number | readonly number[]' : 'readonly number[]';
      return m[2] ? `${base} | null` : base;
    }
  }
}

function tsConv(arg, expr) {
  switch (arg.type) {
    case 'Tensor':
      return `th(${expr}, '${arg.name}')`;
    case 'TensorS':
      return `h(${expr})`;
    case 'Tensor?':
      return `${expr} == null ? undefined : th(${expr}, '${arg.name}')`;
    case 'Tensor[]':
      return `tl(${expr}, '${arg.name}')`;
    case 'Tensor?[]':
      return `tl(${expr}, '${arg.name}', true)`;
    case 'Generator?':
      return `${expr}?.native`;
    default:
      return expr;
  }
}

function tsRet(op) {
  const r = op.ret;
  if (r === 'Tensor') return 'Tensor';
  if (r === 'Tensor[]') return 'Tensor[]';
  if (r === 'self') return 'Tensor';
  if (r === 'bool') return 'boolean';
  if (r === 'int' || r === 'float') return 'number';
  if (r === 'Scalar') return 'number | boolean';
  const n = /^\((.*)\)$/.exec(r)[1].split(',').length;
  return `[${Array(n).fill('Tensor').join(', ')}]`;
}

function tsBody(op, call) {
  const r = op.ret;
  if (r === 'Tensor') return `return Tensor._wrap(${call});`;
  if (r === 'self') return `${call};\n  return self;`;
  if (r === 'Tensor[]' || r.startsWith('(')) return `return (${call} as NativeHandle[]).map((x) => Tensor._wrap(x)) as ${tsRet(op)};`;
  return `return ${call} as ${tsRet(op)};`;
}

function tsParams(args) {
  let optional = false;
  return args.map((a) => {
    optional = optional || a.def !== undefined || a.type.endsWith('?');
    return `${a.name}${optional ? '?' : ''}: ${tsType(a)}`;
  });
}

function tsFile(ops) {
  const fnDefs = [];
  const methodDecls = [];
  const methodDefs = [];
  const exportsList = [];
  for (const op of ops) {
    const fname = RESERVED.has(op.js) ? `${op.js}_` : op.js;
    const params = tsParams(op.args);
    const call = `N.${op.name}(${op.args.map((a) => tsConv(a, a.name)).join(', ')})`;
    const ret = tsRet(op);
    // Every op gets a module-level function; only 'f' ops are exported under their own name.
    fnDefs.push(`function ${fname}(${params.join(', ')}): ${ret} {\n  ${tsBody(op, call)}\n}`);
    if (op.flags.includes('f')) exportsList.push(fname === op.js ? op.js : `${fname} as ${op.js}`);
    if (op.flags.includes('m')) {
      const selfIdx = op.args.findIndex((a) => a.name === 'self');
      if (selfIdx < 0) throw new Error(`ops.def:${op.line}: method op needs a 'self' argument`);
      const rest = op.args.filter((_, i) => i !== selfIdx);
      const restParams = tsParams(rest);
      const argNames = op.args.map((a) => (a.name === 'self' ? 'this' : a.name));
      methodDecls.push(`    ${op.js}(${restParams.join(', ')}): ${ret};`);
      methodDefs.push(
        `Tensor.prototype.${op.js} = function (this: Tensor, ${restParams.join(', ')}): ${ret} {\n  return ${fname}(${argNames.join(', ')});\n};`,
      );
    }
  }

  return `// GENERATED by native/gen-ops.mjs from native/ops.def — do not edit.
/* eslint-disable */
import { Tensor, Generator, native as N } from './tensor.js';
import type { DType, MemoryFormat, Reduction, TensorLike, TensorOptions, NativeHandle } from './tensor.js';

const h = (x: TensorLike): unknown => (x instanceof Tensor ? x.native : x);
// Argument checks with the argument's name (a plain property read would say "reading 'native' of null").
function th(x: Tensor, name: string): unknown {
  if (!(x instanceof Tensor)) throw new TypeError(\`argument '\${name}' must be a Tensor, got \${x === null ? 'null' : typeof x}\`);
  return x.native;
}
function tl(xs: readonly (Tensor | null)[], name: string, nullable = false): unknown[] {
  if (!Array.isArray(xs)) throw new TypeError(\`argument '\${name}' must be an array of Tensors\`);
  return xs.map((x) => (nullable && x == null ? null : th(x as Tensor, name)));
}

declare module './tensor.js' {
  interface Tensor {
${methodDecls.join('\n')}
  }
}

${fnDefs.join('\n\n')}

${methodDefs.join('\n\n')}

export {
  ${exportsList.join(',\n  ')},
};
`;
}

/** { path relative to the repo root: content } for every generated file, from ops.def's text. */
export function generateOps(defText) {
  const ops = parseOps(defText);
  return { ...cppFiles(ops), 'src/torch/ops.generated.ts': tsFile(ops) };
}

function main(args) {
  const check = args.includes('--check');
  const unknown = args.find((a) => a !== '--check');
  if (unknown) {
    console.error(`gen-ops: unknown argument '${unknown}' (usage: node native/gen-ops.mjs [--check])`);
    process.exitCode = 2;
    return;
  }
  const defText = readFileSync(join(here, 'ops.def'), 'utf8');
  const nOps = parseOps(defText).length;
  const files = generateOps(defText);
  const stale = Object.keys(files).filter((rel) => {
    const path = join(root, rel);
    return !existsSync(path) || readFileSync(path, 'utf8') !== files[rel];
  });
  if (check) {
    if (stale.length) {
      console.error(`gen-ops: out of date with native/ops.def: ${stale.join(', ')}; run \`npm run build:native\``);
      process.exitCode = 1;
    } else console.log(`gen-ops: ${nOps} ops, all ${Object.keys(files).length} generated files current`);
    return;
  }
  // Write only the files that changed, so make's timestamps skip unchanged parts.
  for (const rel of stale) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), files[rel]);
  }
  console.log(`gen-ops: ${nOps} ops, ${stale.length} file(s) changed`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
