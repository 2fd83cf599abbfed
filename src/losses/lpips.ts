// LPIPS (Zhang et al. 2018, "vgg" variant v0.1) as taming-transformers embeds it in the VQGAN loss:
//
//   scale inputs ((x − shift) / scale, ImageNet statistics for [-1, 1] images)
//   → VGG16 `features` up to relu5_3, tapped after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
//   → per tap: unit-normalize over channels, squared difference, 1×1 conv to one channel (`lin k`),
//     spatial mean → sum over the five taps.  Output [N, 1, 1, 1].
//
// Module keys are taming's (`loss.perceptual_loss.*` of a VQGAN checkpoint without the prefix):
// `scaling_layer.{shift,scale}`, `net.slice{1-5}.{i}.{weight,bias}` with i torchvision's index in
// vgg16().features, `lin{k}.model.1.weight`. Weights are never bundled: load them from the user's
// torchvision VGG16 state dict plus the lpips package's linear layers, or from one combined file.
import { existsSync } from 'node:fs';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, StateDictError, type ModuleTarget, Sequential, Conv2d, ReLU, Dropout, type UnaryModule } from '../nn/index.js';
import * as io from '../io/index.js';

/** Tessera model-file kind of a combined LPIPS weight file (see saveLpips). */
export const LPIPS_KIND = 'lpips';

/** Channels at the five taps. */
export const LPIPS_CHANNELS = [64, 128, 256, 512, 512] as const;

/** torchvision vgg16().features, configuration "D" (numbers are conv widths, 'M' a 2×2 max-pool). */
const VGG16_CFG = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512] as const;
/** features[SLICE_BOUNDS[s] … SLICE_BOUNDS[s+1]) form slice s+1; each ends on the tapped ReLU. */
const SLICE_BOUNDS = [0, 4, 9, 16, 23, 30] as const;

/** The torchvision `features` indices that are convolutions (0, 2, 5, 7, …, 28). */
export const VGG16_CONV_INDICES: readonly number[] = (() => {
  const out: number[] = [];
  let i = 0;
  for (const v of VGG16_CFG) {
    if (v === 'M') i += 1;
    else {
      out.push(i);
      i += 2; // conv, relu
    }
  }
  return out;
})();

/** The slice (1–5) holding torchvision features[i]. */
function sliceOf(i: number): number {
  for (let s = 0; s < 5; s++) if (i < SLICE_BOUNDS[s + 1]!) return s + 1;
  throw new RangeError(`VGG16 features index ${i} is past relu5_3`);
}

class MaxPool2d extends Module {
  forward(x: Tensor): Tensor {
    return T.maxPool2d(x, 2, 2);
  }
  override extraRepr(): string {
    return 'kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False';
  }
}

/** Maps [-1, 1] RGB to the statistics VGG16 was trained on (lpips' ScalingLayer constants). */
export class ScalingLayer extends Module {
  readonly shift: Tensor;
  readonly scale: Tensor;
  constructor() {
    super();
    // Persistent buffers, as upstream: taming checkpoints carry them.
    this.shift = this.buffer('shift', T.tensor([-0.03, -0.088, -0.188], { shape: [1, 3, 1, 1] }));
    this.scale = this.buffer('scale', T.tensor([0.458, 0.448, 0.45], { shape: [1, 3, 1, 1] }));
  }
  forward(x: Tensor): Tensor {
    return x.sub(this.shift).div(this.scale);
  }
}

/** VGG16 features 0…29 split into five Sequentials keyed by torchvision's indices. */
export class Vgg16Slices extends Module {
  readonly slices: Sequential[] = [];
  constructor() {
    super();
    const layers: UnaryModule[] = [];
    let c = 3;
    for (const v of VGG16_CFG) {
      if (v === 'M') layers.push(new MaxPool2d());
      else {
        layers.push(new Conv2d(c, v, 3, { padding: 1 }), new ReLU());
        c = v;
      }
    }
    for (let s = 0; s < 5; s++) {
      const named: Record<string, UnaryModule> = {};
      for (let i = SLICE_BOUNDS[s]!; i < SLICE_BOUNDS[s + 1]!; i++) named[String(i)] = layers[i]!;
      this.slices.push(this.add(`slice${s + 1}`, new Sequential(named)));
    }
  }
  /** The five tapped activations (relu1_2 … relu5_3). */
  forward(x: Tensor): Tensor[] {
    const outs: Tensor[] = [];
    let h = x;
    for (const s of this.slices) {
      h = s.forward(h);
      outs.push(h);
    }
    return outs;
  }
}

/** lpips' NetLinLayer: Dropout then a bias-free 1×1 conv to one channel (keys `model.1.weight`). */
export class NetLinLayer extends Module {
  readonly model: Sequential;
  readonly conv: Conv2d;
  constructor(channels: number) {
    super();
    this.conv = new Conv2d(channels, 1, 1, { bias: false });
    this.model = this.add('model', new Sequential(new Dropout(0.5), this.conv));
  }
  forward(x: Tensor): Tensor {
    return this.model.forward(x);
  }
}

/** x / (‖x‖₂ over channels + 1e-10), lpips' normalize_tensor. */
function normalizeChannels(x: Tensor): Tensor {
  return x.div(x.square().sum(1, true).sqrt().add(1e-10));
}

/**
 * The LPIPS network. A fresh instance has meaningless weights: use loadLpips / tryLoadLpips.
 * Construction does not consume the global random stream (see the constructor).
 */
export class LPIPS extends Module {
  readonly scalingLayer: ScalingLayer;
  readonly net: Vgg16Slices;
  readonly lins: NetLinLayer[];

  constructor() {
    super();
    // Conv2d draws its default init from the global generator; those values are overwritten by the
    // loaded weights, and consuming ~15M draws would make the rest of a run's random stream (e.g.
    // the discriminator's init) depend on whether LPIPS weights were found. So restore the state.
    const rng = T.getRngState();
    try {
      this.scalingLayer = this.add('scaling_layer', new ScalingLayer());
      this.net = this.add('net', new Vgg16Slices());
      this.lins = LPIPS_CHANNELS.map((c, k) => this.add(`lin${k}`, new NetLinLayer(c)));
    } finally {
      T.setRngState(rng);
      rng.dispose();
    }
  }

  /** Distance per pair of [-1, 1] images [N, 3, H, W] → [N, 1, 1, 1]. */
  forward(input: Tensor, target: Tensor): Tensor {
    const fa = this.net.forward(this.scalingLayer.forward(input));
    const fb = this.net.forward(this.scalingLayer.forward(target));
    let val: Tensor | undefined;
    for (let k = 0; k < LPIPS_CHANNELS.length; k++) {
      const diff = normalizeChannels(fa[k]!).sub(normalizeChannels(fb[k]!)).square();
      const r = this.lins[k]!.forward(diff).mean([2, 3], true);
      val = val ? val.add(r) : r;
    }
    return val!;
  }
}

// ---------------------------------------------------------------- the perceptual-loss wrapper
/**
 * A frozen LPIPS for training losses: parameters never require grad and the network stays in eval
 * mode. It is deliberately not a Module, so a parent's train() cannot reach it — upstream taming's
 * LPIPS is switched to training mode with the rest of the Lightning module, which turns on the
 * lin-layer dropout during training; Tessera keeps the deterministic (eval) distance.
 */
export class PerceptualLoss {
  constructor(readonly net: LPIPS) {
    net.requiresGrad_(false);
    net.eval();
  }

  /** LPIPS distance per image pair, [N, 1, 1, 1]. Gradients flow to the images, not the weights. */
  forward(input: Tensor, target: Tensor): Tensor {
    if (this.net.training) this.net.eval();
    return this.net.forward(input, target);
  }

  to(target: ModuleTarget): this {
    this.net.to(target);
    return this;
  }

  dispose(): void {
    this.net.dispose();
  }
}

// ---------------------------------------------------------------- loading weights
/**
 * Where LPIPS weights come from: both of `vgg` and `lin`, or `combined` (any mix is merged).
 * .pth files must be in torch.save's zip format (PyTorch ≥ 1.6); files published earlier — likely
 * including torchvision's original VGG16 download and lpips' vgg.pth — need a one-time conversion.
 */
export interface LpipsFiles {
  /**
   * A torchvision VGG16 state dict — `vgg16-397923af.pth` or a .safetensors with the same keys
   * (`features.N.weight` / `features.N.bias`; the `classifier.*` head is ignored).
   */
  vgg?: string;
  /** The lpips package's linear layers (`weights/v0.1/vgg.pth`, keys `lin0.model.1.weight` …), .pth or .safetensors. */
  lin?: string;
  /**
   * One file with the whole network: a Tessera LPIPS file (saveLpips), any .safetensors/.pth with
   * taming's keys, or a taming VQGAN checkpoint (its `loss.perceptual_loss.*` entries are used).
   */
  combined?: string;
}

/** Weights that do not fit LPIPS: the one state-dict mismatch error (the old name, kept for callers). */
export const LpipsWeightsError = StateDictError;
export type LpipsWeightsError = StateDictError;

/** The user-facing name of a module key: torchvision's for the VGG part. */
function displayKey(key: string): string {
  const m = /^net\.slice\d\.(\d+)\.(weight|bias)$/.exec(key);
  return m ? `features.${m[1]}.${m[2]}` : key;
}

/** The flat tensor dict of one file, any container (tensors join the caller's memory scope). */
function readWeights(path: string): Record<string, Tensor> {
  const { tensors, metadata } = io.readWeightFile(path, { what: 'LPIPS weight file' });
  const kind = metadata[io.MODEL_KEYS.kind];
  if (kind !== undefined && kind !== LPIPS_KIND) throw new io.FormatError(`${path} is a Tessera '${kind}' model file, not LPIPS weights`);
  return tensors;
}

const TV_KEY = /^features\.(\d+)\.(weight|bias)$/;
const TAMING_PREFIXES = ['loss.perceptual_loss.', 'perceptual_loss.'];

/**
 * Renames one file's keys to the module's: torchvision `features.N.*` → `net.sliceS.N.*`; a taming
 * checkpoint is narrowed to its `loss.perceptual_loss.` entries. Unknown keys are returned apart.
 */
function mapKeys(tensors: Record<string, Tensor>, known: Set<string>): { mapped: Map<string, [string, Tensor]>; unexpected: string[] } {
  let entries = Object.entries(tensors);
  for (const prefix of TAMING_PREFIXES) {
    if (entries.some(([k]) => k.startsWith(prefix))) {
      entries = entries.filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]);
      break;
    }
  }
  const mapped = new Map<string, [string, Tensor]>();
  const unexpected: string[] = [];
  for (const [key, t] of entries) {
    if (key.startsWith('classifier.')) continue; // torchvision's VGG16 head: not part of LPIPS
    const m = TV_KEY.exec(key);
    let target: string | undefined;
    if (m) {
      const i = Number(m[1]);
      if (VGG16_CONV_INDICES.includes(i)) target = `net.slice${sliceOf(i)}.${i}.${m[2]}`;
    } else if (known.has(key)) target = key;
    if (target === undefined) unexpected.push(key);
    else mapped.set(target, [key, t]);
  }
  return { mapped, unexpected };
}

/** The files named by `files`, in a fixed order. */
function filesOf(files: LpipsFiles): string[] {
  return [files.combined, files.vgg, files.lin].filter((p): p is string => typeof p === 'string' && p !== '');
}

/**
 * Loads the LPIPS weights into `net` (default: a new LPIPS), returned frozen and in eval mode.
 * Every file is read; their keys are merged and checked together, and any missing, unrecognised,
 * duplicated, wrongly-shaped, wrongly-typed or non-finite tensor makes one StateDictError that lists them all (the network is
 * left unchanged then).
 * Throws (not null) when a file is absent — tryLoadLpips is the lenient entry point.
 */
export function loadLpips(files: LpipsFiles, net: LPIPS = new LPIPS()): LPIPS {
  const paths = filesOf(files);
  if (paths.length === 0) throw new Error('loadLpips: no weight files given (vgg + lin, or combined)');
  T.tidy(() => {
    const params = new Map(Object.entries(net.stateDict({ keepVars: true })));
    const known = new Set(params.keys());
    const merged = new Map<string, [string, Tensor]>();
    const unexpected: string[] = [];
    const duplicated: string[] = [];
    for (const path of paths) {
      const r = mapKeys(readWeights(path), known);
      for (const k of r.unexpected) unexpected.push(paths.length > 1 ? `${k} (${path})` : k);
      for (const [k, v] of r.mapped) {
        if (merged.has(k)) duplicated.push(displayKey(k));
        merged.set(k, v);
      }
    }
    // The scaling constants are not in the torchvision / lpips files: keep the built-in ones.
    const missing = [...known].filter((k) => !merged.has(k) && !k.startsWith('scaling_layer.')).map(displayKey);
    const mismatched: { key: string; expected: number[]; got: number[] }[] = [];
    for (const [k, [source, t]] of merged) {
      const want = params.get(k)!.shape;
      if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) mismatched.push({ key: source, expected: want, got: t.shape });
    }
    const where = `LPIPS weights from ${paths.join(', ')}`;
    const options = {
      against: 'the LPIPS (VGG16, v0.1) layout',
      hint:
        `a torchvision VGG16 state dict (features.N.weight/bias, N in ${VGG16_CONV_INDICES.join(', ')}) plus the lpips linear layers ` +
        `(lin0.model.1.weight … lin4.model.1.weight), or one combined file with taming's keys (net.slice1.0.weight …)`,
    };
    const unexpectedAll = [...unexpected, ...duplicated.map((k) => `${k} (given twice)`)];
    if (missing.length || unexpectedAll.length || mismatched.length)
      throw new StateDictError({ missing, unexpected: unexpectedAll, mismatched }, where, options);
    // The scaling constants are not in the files (optional); dtypes and finiteness are checked here.
    try {
      net.loadStateDict(new Map([...merged].map(([k, [, t]]) => [k, t])), { optional: (k) => k.startsWith('scaling_layer.'), name: where, ...options });
    } catch (e) {
      if (!(e instanceof StateDictError)) throw e;
      const r = e.result;
      const show = (k: string): string => merged.get(k)?.[0] ?? displayKey(k);
      throw new StateDictError({ ...r, wrongDtype: r.wrongDtype?.map((x) => ({ ...x, key: show(x.key) })), nonFinite: r.nonFinite?.map(show) }, where, options);
    }
  });
  // LPIPS is only ever used as a fixed metric: return it frozen and in eval mode (no dropout).
  return net.requiresGrad_(false).eval();
}

/** Writes the whole network as one Tessera model file (kind 'lpips'), loadable as `combined`. */
export function saveLpips(path: string, net: LPIPS | PerceptualLoss): void {
  const m = net instanceof PerceptualLoss ? net.net : net;
  T.tidy(() => io.saveModelFile(path, { kind: LPIPS_KIND, config: { net: 'vgg16', version: '0.1' }, stateDict: m.stateDict() }));
}

// ---------------------------------------------------------------- optional perceptual term
export type NoticeSink = (message: string) => void;

/**
 * Notices printed at most once per key for the life of this object — for conditions that hold for
 * the whole run ("training without the perceptual term"), which would otherwise flood a log that
 * checks them every step or every resume.
 */
export class OnceNotices {
  readonly #seen = new Set<string>();
  constructor(readonly sink: NoticeSink = (m) => console.warn(m)) {}

  /** Emits `message` if `key` has not been noticed yet; returns whether it was emitted. */
  notice(key: string, message: string): boolean {
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    this.sink(message);
    return true;
  }

  has(key: string): boolean {
    return this.#seen.has(key);
  }
}

/** The process-wide notices used when no other OnceNotices is given (writes to console.warn). */
export const defaultNotices = new OnceNotices();

export interface TryLoadLpipsOptions extends LpipsFiles {
  /** Where the "not found" notice goes (once); default defaultNotices. */
  notices?: OnceNotices;
}

/**
 * The perceptual term if its weights are available, else null: when no file is given or a given
 * file does not exist, notices once "LPIPS weights not found (…); training without the perceptual
 * term" and returns null. Files that exist but are wrong still throw (StateDictError / FormatError):
 * a bad file should stop the run rather than silently change the objective.
 */
export function tryLoadLpips(opts: TryLoadLpipsOptions = {}): PerceptualLoss | null {
  const paths = filesOf(opts);
  const absent = paths.filter((p) => !existsSync(p));
  let why: string | undefined;
  if (paths.length === 0) why = 'no weight files given: supply a torchvision VGG16 state dict and the lpips linear layers, or one combined file';
  else if (absent.length) why = `file${absent.length > 1 ? 's' : ''} not found: ${absent.join(', ')}`;
  if (why !== undefined) {
    (opts.notices ?? defaultNotices).notice('lpips-weights-missing', `LPIPS weights not found (${why}); training without the perceptual term`);
    return null;
  }
  return new PerceptualLoss(loadLpips(opts));
}
