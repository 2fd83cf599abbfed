// InceptionV3 as pytorch-fid's "FID Inception" (the network behind the FID numbers papers report):
// torchvision's Inception3 layout with 1008 classes, no auxiliary head, and the TF graph's pooling —
// average pools in the A, C and first E blocks exclude padding from the count (count_include_pad
// False), and the last E block pools with a 3×3 max instead of an average.
//
//   input [-1, 1] → bilinear resize to 299×299 (align_corners False, done on [0, 1] as pytorch-fid)
//   → Conv2d_1a_3x3 … Conv2d_4a_3x3 (with two 3×3/2 max pools) → Mixed_5b … Mixed_7c
//   → global average → pool3 features [B, 2048] → fc → logits [B, 1008]
//
// Every conv is BasicConv2d: conv (no bias) → BatchNorm (eps 1e-3) → ReLU, keys `<name>.conv.weight`
// and `<name>.bn.{weight,bias,running_mean,running_var}` as in pytorch-fid's weight file
// pt_inception-2015-12-05-6726825d.pth. The weights are never bundled: load them with loadFidInception.
import { existsSync } from 'node:fs';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, Conv2d, BatchNorm2d, Linear, StateDictError } from '../nn/index.js';
import * as io from '../io/index.js';
import type { FeatureExtractor } from './features.js';

export const FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth';
export const FID_WEIGHTS_URL = `https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/${FID_WEIGHTS_FILE}`;
export const INCEPTION_FEATURE_DIM = 2048;
export const INCEPTION_NUM_CLASSES = 1008;
export const INCEPTION_INPUT_SIZE = 299;

type K2 = number | [number, number];

/** conv (no bias) → BatchNorm(eps 1e-3) → ReLU. */
export class BasicConv2d extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(inC: number, outC: number, kernel: K2, opts: { stride?: number; padding?: K2 } = {}) {
    super();
    this.conv = this.add('conv', new Conv2d(inC, outC, kernel, { stride: opts.stride ?? 1, padding: opts.padding ?? 0, bias: false }));
    this.bn = this.add('bn', new BatchNorm2d(outC, { eps: 0.001 }));
  }
  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x)).relu();
  }
}

/** 3×3 average pool, stride 1, padding 1, padding not counted (the TF graph's pooling). */
const avgPool3 = (x: Tensor): Tensor => T.avgPool2d(x, 3, 1, 1, false, false);

class InceptionA extends Module {
  readonly b1: BasicConv2d;
  readonly b5_1: BasicConv2d;
  readonly b5_2: BasicConv2d;
  readonly d1: BasicConv2d;
  readonly d2: BasicConv2d;
  readonly d3: BasicConv2d;
  readonly pool: BasicConv2d;
  constructor(inC: number, poolFeatures: number) {
    super();
    this.b1 = this.add('branch1x1', new BasicConv2d(inC, 64, 1));
    this.b5_1 = this.add('branch5x5_1', new BasicConv2d(inC, 48, 1));
    this.b5_2 = this.add('branch5x5_2', new BasicConv2d(48, 64, 5, { padding: 2 }));
    this.d1 = this.add('branch3x3dbl_1', new BasicConv2d(inC, 64, 1));
    this.d2 = this.add('branch3x3dbl_2', new BasicConv2d(64, 96, 3, { padding: 1 }));
    this.d3 = this.add('branch3x3dbl_3', new BasicConv2d(96, 96, 3, { padding: 1 }));
    this.pool = this.add('branch_pool', new BasicConv2d(inC, poolFeatures, 1));
  }
  forward(x: Tensor): Tensor {
    return T.cat(
      [this.b1.forward(x), this.b5_2.forward(this.b5_1.forward(x)), this.d3.forward(this.d2.forward(this.d1.forward(x))), this.pool.forward(avgPool3(x))],
      1,
    );
  }
}

class InceptionB extends Module {
  readonly b3: BasicConv2d;
  readonly d1: BasicConv2d;
  readonly d2: BasicConv2d;
  readonly d3: BasicConv2d;
  constructor(inC: number) {
    super();
    this.b3 = this.add('branch3x3', new BasicConv2d(inC, 384, 3, { stride: 2 }));
    this.d1 = this.add('branch3x3dbl_1', new BasicConv2d(inC, 64, 1));
    this.d2 = this.add('branch3x3dbl_2', new BasicConv2d(64, 96, 3, { padding: 1 }));
    this.d3 = this.add('branch3x3dbl_3', new BasicConv2d(96, 96, 3, { stride: 2 }));
  }
  forward(x: Tensor): Tensor {
    return T.cat([this.b3.forward(x), this.d3.forward(this.d2.forward(this.d1.forward(x))), T.maxPool2d(x, 3, 2)], 1);
  }
}

class InceptionC extends Module {
  readonly b1: BasicConv2d;
  readonly s: BasicConv2d[];
  readonly d: BasicConv2d[];
  readonly pool: BasicConv2d;
  constructor(inC: number, c7: number) {
    super();
    this.b1 = this.add('branch1x1', new BasicConv2d(inC, 192, 1));
    this.s = [
      this.add('branch7x7_1', new BasicConv2d(inC, c7, 1)),
      this.add('branch7x7_2', new BasicConv2d(c7, c7, [1, 7], { padding: [0, 3] })),
      this.add('branch7x7_3', new BasicConv2d(c7, 192, [7, 1], { padding: [3, 0] })),
    ];
    this.d = [
      this.add('branch7x7dbl_1', new BasicConv2d(inC, c7, 1)),
      this.add('branch7x7dbl_2', new BasicConv2d(c7, c7, [7, 1], { padding: [3, 0] })),
      this.add('branch7x7dbl_3', new BasicConv2d(c7, c7, [1, 7], { padding: [0, 3] })),
      this.add('branch7x7dbl_4', new BasicConv2d(c7, c7, [7, 1], { padding: [3, 0] })),
      this.add('branch7x7dbl_5', new BasicConv2d(c7, 192, [1, 7], { padding: [0, 3] })),
    ];
    this.pool = this.add('branch_pool', new BasicConv2d(inC, 192, 1));
  }
  forward(x: Tensor): Tensor {
    const chain = (ms: BasicConv2d[]) => ms.reduce((h, m) => m.forward(h), x);
    return T.cat([this.b1.forward(x), chain(this.s), chain(this.d), this.pool.forward(avgPool3(x))], 1);
  }
}

class InceptionD extends Module {
  readonly a: BasicConv2d[];
  readonly b: BasicConv2d[];
  constructor(inC: number) {
    super();
    this.a = [this.add('branch3x3_1', new BasicConv2d(inC, 192, 1)), this.add('branch3x3_2', new BasicConv2d(192, 320, 3, { stride: 2 }))];
    this.b = [
      this.add('branch7x7x3_1', new BasicConv2d(inC, 192, 1)),
      this.add('branch7x7x3_2', new BasicConv2d(192, 192, [1, 7], { padding: [0, 3] })),
      this.add('branch7x7x3_3', new BasicConv2d(192, 192, [7, 1], { padding: [3, 0] })),
      this.add('branch7x7x3_4', new BasicConv2d(192, 192, 3, { stride: 2 })),
    ];
  }
  forward(x: Tensor): Tensor {
    const chain = (ms: BasicConv2d[]) => ms.reduce((h, m) => m.forward(h), x);
    return T.cat([chain(this.a), chain(this.b), T.maxPool2d(x, 3, 2)], 1);
  }
}

class InceptionE extends Module {
  readonly b1: BasicConv2d;
  readonly b3_1: BasicConv2d;
  readonly b3_2a: BasicConv2d;
  readonly b3_2b: BasicConv2d;
  readonly d1: BasicConv2d;
  readonly d2: BasicConv2d;
  readonly d3a: BasicConv2d;
  readonly d3b: BasicConv2d;
  readonly pool: BasicConv2d;
  /** 'avg': FIDInceptionE_1 (average, padding not counted); 'max': FIDInceptionE_2. */
  constructor(
    inC: number,
    readonly poolKind: 'avg' | 'max',
  ) {
    super();
    this.b1 = this.add('branch1x1', new BasicConv2d(inC, 320, 1));
    this.b3_1 = this.add('branch3x3_1', new BasicConv2d(inC, 384, 1));
    this.b3_2a = this.add('branch3x3_2a', new BasicConv2d(384, 384, [1, 3], { padding: [0, 1] }));
    this.b3_2b = this.add('branch3x3_2b', new BasicConv2d(384, 384, [3, 1], { padding: [1, 0] }));
    this.d1 = this.add('branch3x3dbl_1', new BasicConv2d(inC, 448, 1));
    this.d2 = this.add('branch3x3dbl_2', new BasicConv2d(448, 384, 3, { padding: 1 }));
    this.d3a = this.add('branch3x3dbl_3a', new BasicConv2d(384, 384, [1, 3], { padding: [0, 1] }));
    this.d3b = this.add('branch3x3dbl_3b', new BasicConv2d(384, 384, [3, 1], { padding: [1, 0] }));
    this.pool = this.add('branch_pool', new BasicConv2d(inC, 192, 1));
  }
  forward(x: Tensor): Tensor {
    const b3 = this.b3_1.forward(x);
    const d = this.d2.forward(this.d1.forward(x));
    const pooled = this.poolKind === 'avg' ? avgPool3(x) : T.maxPool2d(x, 3, 1, 1);
    return T.cat([this.b1.forward(x), this.b3_2a.forward(b3), this.b3_2b.forward(b3), this.d3a.forward(d), this.d3b.forward(d), this.pool.forward(pooled)], 1);
  }
}

/** Outputs of one forward pass. */
export interface InceptionOutput {
  /** pool3 features [B, 2048]. */
  features: Tensor;
  /** fc(features) with its bias [B, 1008]. */
  logits: Tensor;
  /** features · fc.weightᵀ without the bias [B, 1008]: the logits OpenAI's IS code (and torch-fidelity) use. */
  logitsUnbiased: Tensor;
}

/**
 * pytorch-fid's FID InceptionV3. A fresh instance has meaningless weights (use loadFidInception);
 * construction leaves the global random stream untouched.
 */
export class FidInceptionV3 extends Module implements FeatureExtractor {
  readonly name = 'inception';
  readonly featureDim = INCEPTION_FEATURE_DIM;
  readonly numClasses = INCEPTION_NUM_CLASSES;
  readonly stem: BasicConv2d[];
  readonly mixed: Module[];
  readonly fc: Linear;

  constructor() {
    super();
    const rng = T.getRngState();
    try {
      const s = (name: string, m: BasicConv2d) => this.add(name, m);
      this.stem = [
        s('Conv2d_1a_3x3', new BasicConv2d(3, 32, 3, { stride: 2 })),
        s('Conv2d_2a_3x3', new BasicConv2d(32, 32, 3)),
        s('Conv2d_2b_3x3', new BasicConv2d(32, 64, 3, { padding: 1 })),
        s('Conv2d_3b_1x1', new BasicConv2d(64, 80, 1)),
        s('Conv2d_4a_3x3', new BasicConv2d(80, 192, 3)),
      ];
      this.mixed = [
        this.add('Mixed_5b', new InceptionA(192, 32)),
        this.add('Mixed_5c', new InceptionA(256, 64)),
        this.add('Mixed_5d', new InceptionA(288, 64)),
        this.add('Mixed_6a', new InceptionB(288)),
        this.add('Mixed_6b', new InceptionC(768, 128)),
        this.add('Mixed_6c', new InceptionC(768, 160)),
        this.add('Mixed_6d', new InceptionC(768, 160)),
        this.add('Mixed_6e', new InceptionC(768, 192)),
        this.add('Mixed_7a', new InceptionD(768)),
        this.add('Mixed_7b', new InceptionE(1280, 'avg')),
        this.add('Mixed_7c', new InceptionE(2048, 'max')),
      ];
      this.fc = this.add('fc', new Linear(INCEPTION_FEATURE_DIM, INCEPTION_NUM_CLASSES));
    } finally {
      T.setRngState(rng);
      rng.dispose();
    }
    this.eval();
  }

  /** [-1, 1] images [B, 1 or 3, H, W] → 3-channel 299×299 input in [-1, 1], as pytorch-fid prepares it. */
  preprocess(images: Tensor): Tensor {
    if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) {
      throw new Error(`FID Inception: expected images [B, 1 or 3, H, W] in [-1, 1], got shape [${images.shape.join(', ')}]`);
    }
    let x = images.float();
    if (x.shape[1] === 1) x = x.repeat([1, 3, 1, 1]);
    // pytorch-fid: resize the [0, 1] image bilinearly to 299×299, then map to [-1, 1] with 2x − 1.
    const unit = x.add(1).div(2);
    return T.interpolate(unit, { size: [INCEPTION_INPUT_SIZE, INCEPTION_INPUT_SIZE], mode: 'bilinear', alignCorners: false })
      .mul(2)
      .sub(1);
  }

  forward(images: Tensor): InceptionOutput {
    let h = this.preprocess(images);
    h = this.stem[0]!.forward(h);
    h = this.stem[1]!.forward(h);
    h = this.stem[2]!.forward(h);
    h = T.maxPool2d(h, 3, 2);
    h = this.stem[3]!.forward(h);
    h = this.stem[4]!.forward(h);
    h = T.maxPool2d(h, 3, 2);
    for (const m of this.mixed) h = (m as unknown as { forward(x: Tensor): Tensor }).forward(h);
    const features = T.adaptiveAvgPool2d(h, 1).flatten(1);
    const logitsUnbiased = features.matmul(this.fc.weight.t());
    return { features, logits: logitsUnbiased.add(this.fc.bias!), logitsUnbiased };
  }

  /**
   * FeatureExtractor: pool3 features and the unbiased logits (OpenAI's Inception Score convention,
   * which torch-fidelity follows). Runs without gradients, in eval mode.
   */
  features(images: Tensor): { features: Tensor; logits: Tensor } {
    return T.noGrad(() => {
      if (this.training) this.eval();
      const out = this.forward(images);
      return { features: out.features, logits: out.logitsUnbiased };
    });
  }
}

// ---------------------------------------------------------------- loading weights
/** Weights that do not fit the FID Inception: the one state-dict mismatch error (the old name, kept for callers). */
export const InceptionWeightsError = StateDictError;
export type InceptionWeightsError = StateDictError;

/** The one-line "where to get it" text for a missing weights file. */
export function missingWeightsMessage(path: string): string {
  return (
    `FID Inception weights not found at ${path}: download ${FID_WEIGHTS_FILE} from the pytorch-fid releases ` +
    `(${FID_WEIGHTS_URL}) on a machine with internet access and pass its path — Tessera cannot download it here`
  );
}

/** The tensor dict of a .pth (torch.save, zip or legacy format) or .safetensors file, whatever its name. Tensors join the caller's scope. */
export function readInceptionWeights(path: string): Record<string, Tensor> {
  if (!existsSync(path)) throw new Error(missingWeightsMessage(path));
  return io.readWeightFile(path, { what: 'FID Inception weight file' }).tensors;
}

/**
 * Loads pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth, or a
 * .safetensors with the same keys) into a new network, returned frozen and in eval mode. Keys are
 * checked strictly (num_batches_tracked may be absent): any missing, unexpected, wrongly shaped or
 * wrongly typed key, or NaN/Infinity weights, gives one StateDictError (one line) listing them.
 */
export function loadFidInception(path: string): FidInceptionV3 {
  const net = new FidInceptionV3();
  try {
    T.tidy(() => {
      net.loadStateDict(readInceptionWeights(path), {
        optional: (k) => k.endsWith('.num_batches_tracked'),
        name: path,
        against: "pytorch-fid's FID Inception",
        hint: `${FID_WEIGHTS_FILE} or a .safetensors with its keys`,
      });
    });
  } catch (e) {
    net.dispose();
    throw e;
  }
  return net.requiresGrad_(false).eval();
}
