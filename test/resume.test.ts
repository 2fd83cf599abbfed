// The one resume rule, table-driven over the three train commands: on --resume, flags equal to the
// saved run are accepted (and the run continues bit-exactly), any other change is refused naming the
// flag and the saved value, and --steps may be raised (the schedule stretches) but not lowered.
// Tiny models and 4 steps throughout.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { cliSandbox, assertCliError } from './helpers.js';

const { tessera, p } = cliSandbox('resume');

interface Case {
  trainer: 'tokenizer' | 'prior' | 'classifier';
  /** Run directory name when a trainer has several cases (default: the trainer). */
  name?: string;
  /** A new run's flags (4 steps). */
  args: () => string[];
  /** Flags that differ from the saved run, and how the refusal names them. */
  changes: [string[], RegExp][];
}

const TOKENIZER = [
  '--arch',
  'vqvae',
  '--data',
  'mnist',
  '--size',
  '8',
  '--steps',
  '4',
  '--batch-size',
  '4',
  '--ch',
  '8',
  '--codebook-size',
  '8',
  '--val-count',
  '8',
  '--no-gan',
];
const tokenizerModel = () => p('runs', 'tokenizer-ref', 'model.safetensors');
/** A new prior run's flags (4 steps, a one-block 16-wide transformer). */
const priorArgs = (arch: string) => [
  '--arch',
  arch,
  '--tokenizer',
  tokenizerModel(),
  '--steps',
  '4',
  '--batch-size',
  '4',
  '--dim',
  '16',
  '--depth',
  '1',
  '--heads',
  '2',
  '--val-count',
  '8',
];

const CASES: Case[] = [
  {
    trainer: 'tokenizer',
    args: () => TOKENIZER,
    changes: [
      [['--lr', '0.001'], /--lr 0\.001 \(saved: 0\.0002\)/],
      [['--codebook-size', '16'], /--codebook-size 16 \(saved: 8\)/],
      [['--gan'], /--gan \(saved: --no-gan\)/],
      [['--no-ema'], /--no-ema \(saved: EMA 0\.999\)/],
      [['--data', 'emoji:google'], /--data emoji:google \(saved: mnist\)/],
      [['--steps', '3'], /--steps 3 \(saved: 4; it may only be raised\)/],
    ],
  },
  {
    trainer: 'prior',
    args: () => priorArgs('ar'),
    changes: [
      [['--lr', '0.1'], /--lr 0\.1 \(saved: 0\.0005\)/],
      [['--dim', '32'], /--dim 32 \(saved: 16\)/],
      [['--flip'], /--flip \(saved: no --flip\)/],
      [['--arch', 'maskgit'], /--arch maskgit \(saved: ar\)/],
      [['--steps', '2'], /--steps 2 \(saved: 4; it may only be raised\)/],
    ],
  },
  {
    // VQ-Diffusion's importance-sampling statistics are module state: they must resume exactly too.
    trainer: 'prior',
    name: 'diffusion',
    args: () => priorArgs('diffusion'),
    changes: [
      [['--arch', 'ar'], /--arch ar \(saved: diffusion\)/],
      [['--depth', '2'], /--depth 2 \(saved: 1\)/],
    ],
  },
  {
    // Class-balanced epochs are drawn from (seed, epoch) like plain ones: a resume continues them exactly.
    trainer: 'prior',
    name: 'balanced',
    args: () => [...priorArgs('maskgit'), '--class-balance', '1'],
    changes: [
      [['--depth', '2'], /--depth 2 \(saved: 1\)/],
      [['--class-balance', '0'], /--class-balance 0 \(saved: 1\)/],
    ],
  },
  {
    trainer: 'classifier',
    args: () => [
      '--data',
      'mnist',
      '--size',
      '12',
      '--steps',
      '4',
      '--batch-size',
      '8',
      '--width',
      '8',
      '--feature-dim',
      '16',
      '--val-count',
      '50',
      '--warmup',
      '2',
    ],
    changes: [
      [['--lr', '0.1'], /--lr 0\.1 \(saved: 0\.002\)/],
      [['--width', '16'], /--width 16 \(saved: 8\)/],
      [['--hflip'], /--hflip \(saved: --no-hflip\)/],
      [['--size', '14'], /--size 14 \(saved: 12\)/],
      [['--steps', '3'], /--steps 3 \(saved: 4; it may only be raised\)/],
    ],
  },
];

const ok = (r: ReturnType<typeof tessera>) => {
  assert.equal(r.code, 0, r.err);
  return r;
};
const bytes = (...parts: string[]) => readFileSync(p(...parts));
const steps = (dir: string) =>
  readFileSync(p(dir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number }).step);

before(() => {
  // Every case's uninterrupted reference run (the prior's tokenizer is the tokenizer's).
  for (const c of CASES) ok(tessera('train', c.trainer, ...c.args(), '--out', `runs/${c.name ?? c.trainer}-ref`));
});

for (const c of CASES) {
  test(`train ${c.name ?? c.trainer}: flags equal to the saved run are accepted and the resume is bit-exact; other changes are refused; --steps may be raised`, () => {
    const dir = `runs/${c.name ?? c.trainer}`;
    ok(tessera('train', c.trainer, ...c.args(), '--out', dir, '--stop-after', '2'));

    // Each changed flag: a one-line usage error naming it, and the run is left as it was.
    const untouched = [bytes(dir, 'config.json'), bytes(dir, 'checkpoint.safetensors')];
    for (const [flags, re] of c.changes) {
      assertCliError(
        tessera('train', c.trainer, '--out', dir, '--resume', ...flags),
        2,
        new RegExp(`--resume: ${re.source} contradicts the saved run in ${dir}`),
      );
    }
    // Several at once are named together.
    const [[f1, re1], [f2, re2]] = [c.changes[0]!, c.changes[1]!];
    assertCliError(tessera('train', c.trainer, '--out', dir, '--resume', ...f1, ...f2), 2, new RegExp(`${re1.source}, ${re2.source} contradict the saved run`));
    assertCliError(
      tessera('train', c.trainer, '--out', dir, '--resume', '--config', 'x.json'),
      2,
      /--resume reuses the run's saved configuration; drop --config/,
    );
    assert.deepEqual([bytes(dir, 'config.json'), bytes(dir, 'checkpoint.safetensors')], untouched, 'a refused resume changed the run');

    // Repeating every flag of the original command is accepted, and the run ends bit-identical.
    const r = ok(tessera('train', c.trainer, ...c.args(), '--out', dir, '--resume'));
    assert.match(r.out, /^resuming at step 2: /m);
    assert.ok(
      bytes(dir, 'model.safetensors').equals(bytes(`runs/${c.name ?? c.trainer}-ref`, 'model.safetensors')),
      'resumed model differs from the uninterrupted run',
    );
    assert.deepEqual(steps(dir), [1, 2, 3, 4]);

    // --steps raised: the run continues to the new length, saying the schedule is stretched.
    const more = ok(tessera('train', c.trainer, '--out', dir, '--resume', '--steps', '6'));
    assert.match(more.err, /note: --steps 6 extends the run from 4 steps; the learning-rate schedule is stretched to the new length from step 4 on/);
    assert.deepEqual(steps(dir), [1, 2, 3, 4, 5, 6]);
    assert.equal(JSON.parse(readFileSync(p(dir, 'config.json'), 'utf8')).steps, 6);
    // … and from then on 6 is the saved length: repeating it is accepted, going back is refused.
    assertCliError(tessera('train', c.trainer, '--out', dir, '--resume', '--steps', '4'), 2, /--steps 4 \(saved: 6; it may only be raised\)/);
  });
}

test('a schedule with a length stretches from the checkpoint on; one without (the tokenizer’s) resumes as if never stopped', () => {
  // The tokenizer's LR is warmup then constant: 4 steps then --steps 6 equals 6 steps straight.
  cpSync(p('runs', 'tokenizer-ref'), p('runs', 'tokenizer-6'), { recursive: true });
  ok(tessera('train', 'tokenizer', '--out', 'runs/tokenizer-6', '--resume', '--steps', '6'));
  const args = TOKENIZER.map((a, i) => (TOKENIZER[i - 1] === '--steps' ? '6' : a));
  ok(tessera('train', 'tokenizer', ...args, '--out', 'runs/tokenizer-6-ref'));
  assert.ok(bytes('runs', 'tokenizer-6', 'model.safetensors').equals(bytes('runs', 'tokenizer-6-ref', 'model.safetensors')));
  // The classifier's cosine ends at `steps`: stretched, the LR after step 4 follows the 6-step curve.
  cpSync(p('runs', 'classifier-ref'), p('runs', 'classifier-6'), { recursive: true });
  ok(tessera('train', 'classifier', '--out', 'runs/classifier-6', '--resume', '--steps', '6'));
  const lr = (dir: string) =>
    readFileSync(p(dir, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { lr: number }).lr);
  const stretched = lr('runs/classifier-6');
  assert.deepEqual(stretched.slice(0, 4), lr('runs/classifier-ref'), 'the steps before the resume are kept');
  // Cosine from warmup 2 to step 6: factor ½(1 + cos(π·(s − 2)/4)) for the step s being taken.
  const peak = 2e-3;
  for (const s of [4, 5]) assert.ok(Math.abs(stretched[s]! - peak * 0.5 * (1 + Math.cos((Math.PI * (s - 2)) / 4))) < 1e-12, `lr at step ${s + 1}`);
});
