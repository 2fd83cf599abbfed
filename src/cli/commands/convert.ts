// `tessera convert`: store a model file's weights as float16 (half the size) or back as float32.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'convert',
  summary: 'store a model file’s weights as float16 (half the size) or float32',
  description:
    'Rewrites a Tessera model file (tokenizer, prior, classifier) with its floating-point tensors stored as ' +
    '--dtype. Models load either kind: weights are converted to float32 parameters when loaded, so a ' +
    'float16 file only rounds each weight to 11 significant bits. Tensors float16 cannot hold (overflow, ' +
    'or an error above 1e-3 of their largest value) stay float32 and are listed. Metadata, including a ' +
    'codec section and recommended sampling settings, is kept.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'model file to read (.safetensors)' },
    out: { type: 'string', required: true, metavar: 'file', help: 'model file to write (may be --model itself)' },
    dtype: { type: 'enum', values: ['float16', 'float32'] as const, default: 'float16', help: 'storage of the floating-point tensors' },
  },
  examples: ['tessera convert --model runs/emoji-ar/model.safetensors --out models/emoji-ar.safetensors'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const { storeModelFileAs } = await import('../../io/index.js');
    c.requireFile(o.model, 'model file');
    const r = storeModelFileAs(o.model, o.out, o.dtype);
    const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MB`;
    ctx.out(
      `${o.out}: ${r.converted} tensors stored as ${o.dtype}${r.kept.length ? `; kept as float32 (not representable): ${r.kept.join(', ')}` : ''}; ${mb(r.bytesBefore)} → ${mb(r.bytesAfter)}`,
    );
  },
});
