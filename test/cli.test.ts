// The tessera CLI: the built executable end to end, the dispatcher with stand-in commands, and the
// typed option parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_INTEGER, UsageError, formatHelp, parseOptions, suggest, wrap } from '../src/cli/args.js';
import { runCli, userMessage } from '../src/cli/cli.js';
import { terminalSafe, terminalSafeLines } from '../src/cli/sanitize.js';
import { defineCommand } from '../src/cli/command.js';
import { classifyBlas, mappedLibraries } from '../src/cli/commands/doctor.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test
const mainJs = join(here, '..', 'src', 'cli', 'main.js');
const pkg = JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { version: string };

function tessera(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [mainJs, ...args], { encoding: 'utf8', env: { ...process.env, TESSERA_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// ------------------------------------------------------------------ the executable
test('--version and -V print the package.json version', () => {
  for (const flag of ['--version', '-V']) {
    const r = tessera(flag);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, pkg.version + '\n');
  }
});

test('--help lists the commands and exits 0', () => {
  const r = tessera('--help');
  assert.equal(r.code, 0);
  assert.match(r.out, /^Usage: tessera <command> \[options\]$/m);
  assert.match(r.out, /^ {2}doctor +check the installation/m);
  assert.match(r.out, /^Numbers must be finite; whole-number options take at most 9007199254740991 \(2\^53 - 1\)/m);
  assert.equal(r.err, '');
});

test('no command: help on stderr, exit 2', () => {
  const r = tessera();
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  assert.match(r.err, /tessera: missing command/);
});

test('unknown command: one line on stderr with a suggestion, exit 2', () => {
  const r = tessera('doctr');
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  assert.equal(r.err, "tessera: unknown command 'doctr' (did you mean 'doctor'?); see 'tessera --help'\n");
  const far = tessera('frobnicate');
  assert.equal(far.code, 2);
  assert.equal(far.err, "tessera: unknown command 'frobnicate'; see 'tessera --help'\n");
});

test('unknown global and command options exit 2 with one line', () => {
  const g = tessera('--verison');
  assert.equal(g.code, 2);
  assert.equal(g.err, "tessera: unknown option --verison (did you mean --version?); see 'tessera --help'\n");
  const c = tessera('doctor', '--jsn');
  assert.equal(c.code, 2);
  assert.equal(c.err, "tessera doctor: unknown option --jsn (did you mean --json?); see 'tessera doctor --help'\n");
  const v = tessera('doctor', '--matmul-size', '3');
  assert.equal(v.code, 2);
  assert.match(v.err, /^tessera doctor: --matmul-size must be >= 16 \(got 3\)/);
});

test('doctor --help is generated from the option spec', () => {
  const r = tessera('doctor', '--help');
  assert.equal(r.code, 0);
  assert.match(r.out, /^Usage: tessera doctor \[options\]$/m);
  assert.match(r.out, /--json +print the report as JSON$/m);
  assert.match(r.out, /--matmul-size <n> +side of the square matmul .*\(default: 512\)$/m);
  assert.match(r.out, /-h, --help +show this help$/m);
});

test('doctor reports libtorch, threads, BLAS, CUDA and MKL-DNN', () => {
  const r = tessera('doctor', '--matmul-size', '64');
  assert.equal(r.code, 0, r.err);
  for (const key of ['tessera', 'addon', 'libtorch', 'threads', 'BLAS', 'matmul', 'CUDA', 'MKL-DNN']) {
    assert.match(r.out, new RegExp(`^${key} +\\S`, 'm'), `missing line '${key}' in:\n${r.out}`);
  }
  assert.match(r.out, /^libtorch +\d+\.\d+\.\d+/m);
  assert.match(r.out, /^threads +1 intra-op/m); // TESSERA_THREADS=1 is honoured
  assert.match(r.out, /^matmul +64x64 float32: [\d.]+ GFLOP\/s$/m);
});

test('doctor --json is a complete machine-readable report', () => {
  const r = tessera('doctor', '--json', '--matmul-size=32');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.ok, true);
  assert.equal(j.tessera, pkg.version);
  assert.match(j.libtorch.version, /^\d+\.\d+\.\d+/);
  assert.match(j.addon, /tessera\.node$/);
  assert.equal(j.threads.intraOp, 1);
  assert.equal(j.threads.env, '1');
  assert.ok(j.threads.cpus >= 1);
  assert.equal(j.matmul.size, 32);
  assert.ok(j.matmul.gflops > 0);
  assert.equal(typeof j.cuda.available, 'boolean');
  assert.equal(typeof j.mkldnn, 'boolean');
  assert.ok(Array.isArray(j.warnings));
  // Debian's libtorch loads the system libblas.so.3 dynamically; setup.sh makes it an optimized one.
  if (/^\/usr\/lib\//.test(j.libtorch.library ?? '')) {
    assert.ok(j.blas.paths.length > 0, 'no BLAS mapped after a matmul');
    assert.notEqual(j.blas.kind, 'reference', `reference BLAS in use: ${j.warnings.join('; ')}`);
  }
});

// ------------------------------------------------------------------ BLAS detection
test('mappedLibraries parses /proc/self/maps lines', () => {
  const maps = [
    '7f0000000000-7f0000001000 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3',
    '7f0000001000-7f0000002000 r-xp 00001000 08:01 123 /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3',
    '7f0000003000-7f0000004000 r--p 00000000 08:01 124 /usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0',
    '7f0000005000-7f0000006000 rw-p 00000000 00:00 0 ',
    '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
    '7f0000007000-7f0000008000 r--p 00000000 08:01 125 /work/x/native/build/Release/tessera.node',
    '7f0000009000-7f000000a000 r--p 00000000 08:01 126 /usr/share/locale/locale-archive',
  ].join('\n');
  assert.deepEqual(mappedLibraries(maps), [
    '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3',
    '/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0',
    '/work/x/native/build/Release/tessera.node',
  ]);
});

test('classifyBlas recognizes the Debian alternatives', () => {
  const L = '/usr/lib/x86_64-linux-gnu';
  assert.equal(classifyBlas([`${L}/openblas-pthread/libblas.so.3`, `${L}/libtorch_cpu.so`]).kind, 'openblas-pthread');
  assert.equal(classifyBlas([`${L}/openblas-openmp/libopenblaso-r0.3.21.so`]).kind, 'openblas-openmp');
  assert.equal(classifyBlas([`${L}/openblas-serial/libblas.so.3`]).kind, 'openblas-serial');
  assert.equal(classifyBlas([`${L}/blas/libblas.so.3.11.0`, `${L}/lapack/liblapack.so.3.11.0`]).kind, 'reference');
  assert.equal(classifyBlas([`${L}/blis-pthread/libblis.so.4`]).kind, 'blis');
  assert.equal(classifyBlas(['/opt/intel/lib/libmkl_rt.so.2']).kind, 'mkl');
  const none = classifyBlas([`${L}/libtorch_cpu.so`]);
  assert.equal(none.kind, 'not-found');
  assert.deepEqual(none.paths, []);
});

// ------------------------------------------------------------------ dispatcher (in process)
function capture() {
  const io = { out: '', err: '', stdout: (t: string) => void (io.out += t), stderr: (t: string) => void (io.err += t) };
  return io;
}
const calls: unknown[] = [];
const fakeCommands = [
  defineCommand({
    name: 'train tokenizer',
    summary: 'train a VQ tokenizer',
    options: { steps: { type: 'number', integer: true, default: 100, help: 'steps' } },
    run(o, pos) {
      calls.push(['tokenizer', o.steps, pos]);
    },
  }),
  defineCommand({
    name: 'train prior',
    summary: 'train a prior',
    options: {},
    run() {
      throw new Error('out of tokens');
    },
  }),
  defineCommand({
    name: 'encode',
    summary: 'encode images',
    options: { strict: { type: 'boolean', help: 'strict' } },
    positionals: [{ name: 'image', help: 'input', required: true, variadic: true }],
    run(o, pos, ctx) {
      if (o.strict) throw new UsageError('--strict needs two images');
      ctx.out(`encoded ${pos.join(',')}`);
      return 3;
    },
  }),
];

test('dispatch: multi-word commands, options, exit codes from run', async () => {
  let io = capture();
  calls.length = 0;
  assert.equal(await runCli(['train', 'tokenizer', '--steps', '7', 'x'], fakeCommands, io), 2); // no positionals declared
  assert.match(io.err, /^tessera train tokenizer: unexpected argument 'x'/);
  assert.equal(await runCli(['train', 'tokenizer', '--steps', '7'], fakeCommands, capture()), 0);
  assert.deepEqual(calls, [['tokenizer', 7, []]]);
  assert.equal(await runCli(['encode', 'a.png', 'b.png'], fakeCommands, (io = capture())), 3);
  assert.equal(io.out, 'encoded a.png,b.png\n');
  assert.equal(await runCli(['encode'], fakeCommands, (io = capture())), 2);
  assert.match(io.err, /missing argument <image>/);
});

test('dispatch: command errors exit 1, usage errors thrown by run exit 2', async () => {
  let io = capture();
  assert.equal(await runCli(['train', 'prior'], fakeCommands, io), 1);
  assert.equal(io.err, 'tessera train prior: error: out of tokens\n');
  assert.equal(await runCli(['encode', '--strict', 'a'], fakeCommands, (io = capture())), 2);
  assert.match(io.err, /^tessera encode: --strict needs two images; see 'tessera encode --help'\n$/);
});

test('dispatch: command groups list their subcommands', async () => {
  let io = capture();
  assert.equal(await runCli(['train'], fakeCommands, io), 2);
  assert.equal(io.err, "tessera train: missing subcommand (one of: tokenizer, prior); see 'tessera train --help'\n");
  assert.equal(await runCli(['train', '--help'], fakeCommands, (io = capture())), 0);
  assert.match(io.out, /^ {2}tokenizer +train a VQ tokenizer$/m);
  assert.equal(await runCli(['train', 'tokenzer'], fakeCommands, (io = capture())), 2);
  assert.match(io.err, /unknown command 'train tokenzer' \(did you mean 'train tokenizer'\?\)/);
  assert.equal(await runCli(['train', 'tokenizer', '-h'], fakeCommands, (io = capture())), 0);
  assert.match(io.out, /^Usage: tessera train tokenizer \[options\]$/m);
  assert.match(io.out, /--steps <n> +steps \(default: 100\)/);
});

// ------------------------------------------------------------------ option parser
const spec = {
  steps: { type: 'number', integer: true, min: 1, default: 10, help: 'training steps' },
  lr: { type: 'number', help: 'learning rate' },
  out: { type: 'string', short: 'o', help: 'output path' },
  mode: { type: 'enum', values: ['fast', 'exact'], default: 'fast', help: 'mode' },
  ema: { type: 'boolean', default: true, help: 'use EMA' },
  verbose: { type: 'boolean', short: 'v', help: 'chatty' },
  batchSize: { type: 'number', integer: true, required: true, help: 'batch size' },
} as const;

test('parseOptions: defaults and types', () => {
  const r = parseOptions(spec, ['--batch-size', '8']);
  assert.deepEqual(r.options, { steps: 10, mode: 'fast', ema: true, verbose: false, batchSize: 8 });
  assert.equal(r.help, false);
  // Compile-time: the parsed object is typed from the spec.
  const steps: number = r.options.steps;
  const mode: 'fast' | 'exact' = r.options.mode;
  const ema: boolean = r.options.ema;
  const out: string | undefined = r.options.out;
  // @ts-expect-error lr has no default, so it may be undefined
  const lr: number = r.options.lr;
  assert.deepEqual([steps, mode, ema, out, lr], [10, 'fast', true, undefined, undefined]);
});

test('parseOptions: every value syntax', () => {
  const r = parseOptions(
    spec,
    ['--steps=3', '--lr', '-1e-3', '-o', 'a b.png', '--mode', 'exact', '--no-ema', '-v', '--batch-size=2', 'pos', '--', '--not-a-flag'],
    [{ name: 'files', help: '', variadic: true }],
  );
  assert.deepEqual(r.options, { steps: 3, lr: -0.001, out: 'a b.png', mode: 'exact', ema: false, verbose: true, batchSize: 2 });
  assert.deepEqual(r.positionals, ['pos', '--not-a-flag']);
  const p = parseOptions(
    spec,
    ['--batch-size', '1', '-5', 'x', '-'],
    [
      { name: 'a', help: '' },
      { name: 'rest', help: '', variadic: true },
    ],
  );
  assert.deepEqual(p.positionals, ['-5', 'x', '-']);
  assert.equal(parseOptions(spec, ['--batch-size=1', '--ema=false', '--verbose=yes']).options.ema, false);
  assert.equal(parseOptions(spec, ['--batch-size=1', '--steps', '2', '--steps', '5']).options.steps, 5); // last wins
  assert.throws(() => parseOptions(spec, ['--batch-size=1', 'pos', '--', '--x']), /unexpected argument 'pos'/);
});

test('parseOptions: errors are UsageErrors with clear messages', () => {
  const bad = (argv: string[], re: RegExp) =>
    assert.throws(
      () => parseOptions(spec, argv),
      (e: unknown) => e instanceof UsageError && re.test((e as Error).message),
    );
  bad([], /^missing required option --batch-size$/);
  bad(['--batch-size', 'x'], /^invalid value 'x' for --batch-size \(expected an integer\)$/);
  bad(['--batch-size', '1', '--lr', 'x'], /^invalid value 'x' for --lr \(expected a number\)$/);
  bad(['--batch-size', '2.5'], /^invalid value '2.5' for --batch-size \(expected an integer\)$/);
  bad(['--batch-size', '1', '--steps', '0'], /^--steps must be >= 1 \(got 0\)$/);
  bad(['--batch-size', '1', '--mode', 'exakt'], /^invalid value 'exakt' for --mode \(did you mean exact\?\); expected one of: fast, exact$/);
  bad(['--batch-size', '1', '--mode'], /^option --mode needs a value \(one of: fast, exact\)$/);
  bad(['--batch-size', '1', '--out', '--mode'], /^option --out needs a value$/);
  bad(['--batch-size', '1', '--bach-size', '2'], /^unknown option --bach-size \(did you mean --batch-size\?\)$/);
  bad(['--batch-size', '1', '--batch'], /^unknown option --batch \(did you mean --batch-size\?\)$/);
  bad(['--batch-size', '1', '--zzz'], /^unknown option --zzz$/);
  bad(['--batch-size', '1', '--no-steps'], /^unknown option --no-steps/);
  bad(['--batch-size', '1', '-x'], /^unknown option -x$/);
  bad(['--batch-size', '1', '-steps', '3'], /^unknown option -steps \(did you mean --steps\?\)$/);
  bad(['--batch-size', '1', '--ema=maybe'], /^invalid value 'maybe' for --ema \(expected true or false\)$/);
  bad(['--batch-size', '1', 'extra'], /^unexpected argument 'extra'$/);
});

test("parseOptions: only finite numbers, integers up to 2^53 - 1 or the option's max", () => {
  const bounded = {
    lr: { type: 'number', help: '' },
    temperature: { type: 'number', min: 0, exclusiveMin: true, help: '' },
    size: { type: 'number', integer: true, min: 1, max: 4096, help: '' },
    seed: { type: 'number', integer: true, help: '' },
  } as const;
  const bad = (argv: string[], re: RegExp) =>
    assert.throws(
      () => parseOptions(bounded, argv),
      (e: unknown) => e instanceof UsageError && re.test((e as Error).message),
      argv.join(' '),
    );
  // 1e400 matches the number syntax but is Infinity; it used to train to NaN and be saved as null.
  for (const v of ['1e400', '-1e400', '1e309', 'Infinity', 'NaN', 'inf', '0x10', '']) {
    bad(['--lr', v], new RegExp(`^invalid value '${v}' for --lr \\((out of range: not a finite number|expected a number)\\)$`));
  }
  bad(['--lr=1e400'], /^invalid value '1e400' for --lr \(out of range: not a finite number\)$/);
  bad(['--seed', '1e300'], new RegExp(`^--seed must be <= ${MAX_INTEGER} \\(got 1e300\\)$`));
  bad(['--seed', '9007199254740992'], /^--seed must be <= 9007199254740991/);
  bad(['--seed', '-9007199254740992'], /^--seed must be >= -9007199254740991/);
  bad(['--size', '20000'], /^--size must be <= 4096 \(got 20000\)$/);
  bad(['--size', '0'], /^--size must be >= 1 \(got 0\)$/);
  // An exclusive minimum says so, instead of '>= 0' followed by rejecting 0.
  bad(['--temperature', '0'], /^--temperature must be > 0 \(got 0\)$/);
  bad(['--temperature', '-0'], /^--temperature must be > 0 \(got -0\)$/);
  const ok = parseOptions(bounded, ['--lr', '1e-400', '--temperature', '1e-3', '--size', '4096', '--seed', '9007199254740991']).options;
  assert.deepEqual(ok, { lr: 0, temperature: 0.001, size: 4096, seed: MAX_INTEGER });
  assert.ok(Object.is(parseOptions(bounded, ['--seed', '-0']).options.seed, 0), '-0 is read as 0');
  const help = formatHelp('x', bounded);
  assert.match(help, /--temperature <x> +\(> 0\)$/m);
  assert.match(help, /--size <n> +\(at most 4096\)$/m);
});

test('parseOptions: values that start like negative numbers are values, for every option type', () => {
  const s = {
    class: { type: 'string', help: '' },
    box: { type: 'string', help: '' },
    lr: { type: 'number', help: '' },
    steps: { type: 'number', integer: true, min: 1, help: '' },
    mode: { type: 'enum', values: ['a', 'b'], help: '' },
  } as const;
  const r = parseOptions(s, ['--class', '-1', '--box', '-5,-5,10,10', '--lr', '-.5'], [{ name: 'p', help: '', variadic: true }]);
  assert.deepEqual(r.options, { class: '-1', box: '-5,-5,10,10', lr: -0.5 });
  assert.deepEqual(parseOptions(s, ['--class=-1']).options.class, '-1');
  const bad = (argv: string[], re: RegExp) =>
    assert.throws(
      () => parseOptions(s, argv),
      (e: unknown) => e instanceof UsageError && re.test((e as Error).message),
      argv.join(' '),
    );
  // The value then gets its own precise error instead of 'needs a value'.
  bad(['--steps', '-5'], /^--steps must be >= 1 \(got -5\)$/);
  bad(['--mode', '-1'], /^invalid value '-1' for --mode; expected one of: a, b$/);
  bad(['--lr', '-5,3'], /^invalid value '-5,3' for --lr \(expected a number\)$/);
  // Flags still are flags.
  bad(['--class', '--box', '1'], /^option --class needs a value$/);
  bad(['--class', '-x'], /^option --class needs a value$/);
  assert.deepEqual(parseOptions(s, ['-3,4', '-.5'], [{ name: 'p', help: '', variadic: true }]).positionals, ['-3,4', '-.5']);
});

test('terminalSafe escapes control sequences, newlines and bidi overrides; JSON stays exact', () => {
  const hostile = 'x\x1b]0;pwned\x07\x1b[2J\r\nfake line\t\x9b2J\x7f\u202eevil\u2028y';
  const one = terminalSafe(hostile);
  assert.equal(one, 'x\\u001b]0;pwned\\u0007\\u001b[2J\\r\\nfake line\\t\\u009b2J\\u007f\\u202eevil\\u2028y');
  assert.doesNotMatch(one, /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  assert.equal(terminalSafe(one), one, 'idempotent');
  assert.equal(terminalSafe('plain ünïcode — ✓ 🦊 C:\\path'), 'plain ünïcode — ✓ 🦊 C:\\path');
  const lines = terminalSafeLines('a\tb\nc\x1b[31m');
  assert.equal(lines, 'a\tb\nc\\u001b[31m');
  // Pretty JSON through terminalSafeLines: no raw controls, and parses back to the same strings.
  const value = { meta: { [hostile]: hostile } };
  const printed = terminalSafeLines(JSON.stringify(value, null, 2));
  assert.doesNotMatch(printed, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  assert.deepEqual(JSON.parse(printed), value);
});

test('userMessage rewords raw errno and allocator texts and hides temp file names', () => {
  assert.equal(userMessage("EISDIR: illegal operation on a directory, rename '/r/x.png.tmp-4242' -> '/r/x.png'"), 'cannot write /r/x.png: is a directory');
  assert.equal(
    userMessage("cannot save: ENOTDIR: not a directory, mkdir '/r/f/sub'"),
    'cannot save: cannot create folder /r/f/sub: a parent path is a file, not a folder',
  );
  assert.equal(userMessage("EEXIST: file already exists, mkdir 'runs/afile'"), 'cannot create folder runs/afile: it is a file, not a folder');
  assert.equal(
    userMessage("ENOENT: no such file or directory, open '/r/out/m.safetensors.tmp-7'"),
    'cannot open /r/out/m.safetensors: no such file or directory',
  );
  assert.equal(
    userMessage("empty: DefaultCPUAllocator: can't allocate memory: you tried to allocate 13400000000 bytes. Error code 12 (Cannot allocate memory)"),
    'empty: out of memory: one step needed 13.4 GB at once',
  );
  assert.equal(userMessage('Invalid typed array length: 400000000000'), 'out of memory: a buffer this size cannot be allocated');
  assert.equal(userMessage('model file m.safetensors: tensor w has dtype I32'), 'model file m.safetensors: tensor w has dtype I32');
});

test('dispatch: text from files cannot reach the terminal raw (errors and output lines)', async () => {
  const hostile = 'cat\x1b]0;pwned\x07\nfake: line\x9b2J';
  const cmds = [
    defineCommand({
      name: 'boom',
      summary: '',
      options: {},
      run: () => {
        throw new Error(`unknown class '${hostile}'`);
      },
    }),
    defineCommand({
      name: 'say',
      summary: '',
      options: {},
      run: (_o, _p, ctx) => {
        ctx.out(`name ${hostile}`);
        ctx.err(`warn ${hostile}`);
      },
    }),
  ];
  let io = capture();
  assert.equal(await runCli(['boom'], cmds, io), 1);
  assert.equal(io.err, "tessera boom: error: unknown class 'cat\\u001b]0;pwned\\u0007\\nfake: line\\u009b2J'\n");
  assert.equal(await runCli(['say'], cmds, (io = capture())), 0);
  assert.equal(io.out, 'name cat\\u001b]0;pwned\\u0007\nfake: line\\u009b2J\n');
  assert.equal(io.err, 'warn cat\\u001b]0;pwned\\u0007\nfake: line\\u009b2J\n');
  assert.equal(await runCli(['say', `--x\x1b[2J`], cmds, (io = capture())), 2);
  assert.equal(io.err, "tessera say: unknown option --x\\u001b[2J; see 'tessera say --help'\n");
});

test('parseOptions: --help short-circuits validation', () => {
  const r = parseOptions(spec, ['--help']);
  assert.equal(r.help, true);
  assert.equal(parseOptions(spec, ['-h', '--steps', '4']).help, true);
});

test('formatHelp and helpers', () => {
  const h = formatHelp('tessera x', spec, {
    description: 'Does x.',
    positionals: [{ name: 'image', help: 'input image', required: true }],
    examples: ['tessera x --batch-size 4 a.png'],
  });
  assert.match(h, /^Usage: tessera x \[options\] <image>$/m);
  assert.match(h, /^ {2}<image> +input image$/m);
  assert.match(h, /^ {6}--steps <n> +training steps \(default: 10\)$/m);
  assert.match(h, /^ {2}-o, --out <str> +output path$/m);
  assert.match(h, /--mode <fast\|exact> +mode \(default: fast\)$/m);
  assert.match(h, /--ema +use EMA \(default: on; --no-ema to turn off\)$/m);
  assert.match(h, /--batch-size <n> +batch size \(required\)$/m);
  assert.match(h, /^Examples:\n {2}tessera x --batch-size 4 a\.png$/m);
  assert.equal(suggest('tokenzer', ['tokenizer', 'prior']), 'tokenizer');
  assert.equal(suggest('zz', ['tokenizer', 'prior']), undefined);
  assert.equal(suggest('modle', ['model', 'mode', 'out']), 'model'); // a swap of two letters is one edit
  assert.equal(suggest('ot', ['out', 'n']), 'out');
  assert.equal(wrap('aaa bbb ccc', 7), 'aaa bbb\nccc');
});

test('loading the command registry (tessera --help) does not load libtorch', () => {
  // Commands import the engine lazily inside run(); a static import in any command module would
  // make every --help and typo wait for libtorch. /proc/self/maps lists the shared objects loaded.
  const script = `await import(${JSON.stringify(join(here, '..', 'src', 'cli', 'commands', 'index.js'))});
    const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
    console.log(/libtorch|tessera\\.node/.test(maps) ? 'loaded' : 'not loaded');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'not loaded');
});

test('a reader that closes the pipe early ends the CLI quietly (tessera doctor | head -1)', async () => {
  const { spawn } = await import('node:child_process');
  // doctor prints line by line while it measures; head exits after the first, so later writes hit a closed pipe.
  const child = spawn('bash', ['-c', `set -o pipefail; "${process.execPath}" "${mainJs}" doctor | head -1`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 0, err);
  assert.match(out, /^tessera /);
  assert.equal(err, '', 'no stack trace from EPIPE');
});
