// tessera/losses: the VQGAN training objective — PatchGAN discriminator, GAN losses with taming's
// disc_start gate and adaptive weight, LPIPS from user-supplied weights, and their composition.
export {
  NLayerDiscriminator,
  tamingWeightsInit_,
  StyleGAN2Discriminator,
  r1Penalty,
  type NLayerDiscriminatorOptions,
  type StyleGAN2DiscriminatorOptions,
} from './discriminator.js';
export { logitLaplaceNll, logitLaplaceMap, LOGIT_LAPLACE_EPS, LOGIT_LAPLACE_WEIGHT } from './logit-laplace.js';
export {
  hingeDLoss,
  vanillaDLoss,
  hingeGLoss,
  nonSaturatingGLoss,
  discriminatorLossFn,
  generatorLossFn,
  adoptWeight,
  adaptiveGanWeight,
  type DiscLossKind,
  type GenLossKind,
} from './gan.js';
export {
  LPIPS,
  PerceptualLoss,
  ScalingLayer,
  Vgg16Slices,
  NetLinLayer,
  LpipsWeightsError,
  OnceNotices,
  defaultNotices,
  loadLpips,
  saveLpips,
  tryLoadLpips,
  LPIPS_KIND,
  LPIPS_CHANNELS,
  VGG16_CONV_INDICES,
  type LpipsFiles,
  type TryLoadLpipsOptions,
  type NoticeSink,
} from './lpips.js';
export {
  VQGANLoss,
  resolveVQGANLossConfig,
  VQGAN_LOSS_KEYS,
  type VQGANLossConfig,
  type ResolvedVQGANLossConfig,
  type GeneratorLossLog,
  type DiscriminatorLossLog,
  type GeneratorLossInputs,
} from './vqgan-loss.js';
