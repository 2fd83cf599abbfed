// `tessera info`: what a model file holds — kind, config, parameter count, and for tokenizers the
// downsampling factor, codebook size and tokens per position — without running it.
import { statSync } from 'node:fs';
import { defineCommand } from '../command.js';
import { terminalSafe } from '../sanitize.js';

export const command = defineCommand({
  name: 'info',
  summary: 'describe a model file: kind, config, parameters, codebook',
  description:
    'Loads a Tessera model file (checking that its weights match its config) and prints its kind, a config ' +
    'summary, the parameter count, the file size and its metadata; for tokenizers also the downsampling ' +
    'factor, codebook size and tokens per position.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'model file (.safetensors)' },
    json: { type: 'boolean', help: 'print the description as JSON' },
  },
  examples: ['tessera info --model runs/mnist/model.safetensors'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const T = await import('../../torch/index.js');
    const { loadModelFile, MODEL_KEYS } = await import('../../io/index.js');
    const { TOKENIZER_KINDS } = await import('../../tokenizers/index.js');
    const { nonFiniteKeys } = await import('../../nn/index.js');

    c.requireFile(o.model, 'model file');
    const bytes = statSync(o.model).size;
    // Read once as a generic model file (kind, config, metadata); tokenizers are then rebuilt, which
    // also checks that the weights fit the config.
    let file;
    try {
      file = T.tidy(() => {
        const f = loadModelFile(o.model);
        let params = 0;
        for (const t of Object.values(f.stateDict)) params += t.numel;
        return {
          kind: f.kind,
          config: f.config as Record<string, unknown>,
          metadata: f.metadata,
          tensors: Object.keys(f.stateDict).length,
          params,
          nonFinite: nonFiniteKeys(f.stateDict),
        };
      });
    } catch (e) {
      throw c.withMessage(e, `cannot read model file ${o.model}: ${c.describeError(e).replace(/^model file \S+: /, '')}`);
    }
    // Every kind with a loader is rebuilt, which checks names, shapes, dtypes and values against its
    // config; for other kinds at least NaN/Infinity weights are reported.
    const rebuild: Record<string, () => Promise<{ dispose(): void }>> = {
      prior: async () => (await import('../../priors/index.js')).PriorModel.load(o.model),
      classifier: async () => (await import('../../metrics/classifier.js')).loadClassifier(o.model),
    };
    const load = rebuild[file.kind];
    if (load) {
      try {
        (await load()).dispose();
      } catch (e) {
        const msg = c.describeError(e).replace(/^cannot load classifier: /, '');
        throw c.withMessage(e, msg.includes(o.model) ? msg : `cannot load model ${o.model}: ${msg}`);
      }
    } else if (file.nonFinite.length && !(TOKENIZER_KINDS as readonly string[]).includes(file.kind)) {
      const n = file.nonFinite.length;
      throw new Error(
        `model file ${o.model}: ${n} tensor${n === 1 ? '' : 's'} with NaN or Infinity: ${file.nonFinite.slice(0, 5).join(', ')}${n > 5 ? ', …' : ''}`,
      );
    }
    const metadata = Object.fromEntries(Object.entries(file.metadata).filter(([k]) => k !== MODEL_KEYS.config && k !== MODEL_KEYS.kind));

    const info: Record<string, unknown> = { file: o.model, bytes, kind: file.kind, tensors: file.tensors };
    let config = file.config;
    if ((TOKENIZER_KINDS as readonly string[]).includes(file.kind)) {
      const model = c.loadModel(o.model);
      config = model.config as Record<string, unknown>;
      Object.assign(info, {
        parameters: model.numParameters(),
        downsample: model.downsample,
        codebookSize: model.codebookSize,
        tokensPerPosition: model.tokensPerPosition,
        inChannels: model.inChannels,
      });
      model.dispose();
    } else {
      // Not a tokenizer: count every stored tensor (buffers included).
      info.elements = file.params;
    }
    info.config = config;
    info.metadata = metadata;
    if (o.json) {
      ctx.out(JSON.stringify(info, null, 2));
      return 0;
    }

    const rows: [string, string][] = [
      ['file', `${o.model} (${c.formatBytes(bytes)}, ${file.tensors} tensors)`],
      ['kind', file.kind],
    ];
    if (info.parameters !== undefined) {
      const f = info.downsample as number;
      const k = info.tokensPerPosition as number;
      const res = (config.ddconfig as { resolution?: number } | undefined)?.resolution;
      const example =
        typeof res === 'number' && res % f === 0 ? `${res}×${res} images give ${res / f}×${res / f} positions` : `an H×W image gives H/${f}×W/${f} positions`;
      rows.push(
        ['parameters', c.formatCount(info.parameters as number)],
        ['downsample', `${f} (${example})`],
        ['codebook', `${info.codebookSize} codes`],
        ['tokens', `${k} per position${k > 1 ? ` (shape [h, w, ${k}])` : ' (shape [h, w])'}`],
      );
    } else {
      rows.push(['elements', `${c.formatCount(file.params)} in stored tensors`]);
    }
    for (const [key, v] of Object.entries(config ?? {})) rows.push([`config.${key}`, JSON.stringify(v)]);
    for (const [key, v] of Object.entries(metadata)) rows.push([key, v]);
    // Keys and values come from the file: escape control characters and newlines (sanitize.ts).
    c.printRows(
      ctx,
      rows.map(([k, v]) => [terminalSafe(k), terminalSafe(v)]),
    );
    return 0;
  },
});
