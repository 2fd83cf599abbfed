export {
  Codec,
  fitCodec,
  trainCodec,
  tileLayout,
  type TrainCodecOptions,
  CODEC_META_KEY,
  type CodecSection,
  type CompressOptions,
  type CompressResult,
  type DecompressOptions,
  type DecompressResult,
} from './codec.js';
export { CodecError, RansEncoder, RansDecoder, quantizeFrequencies, uniformFrequencies, scaleBitsFor, type Frequencies } from './rans.js';
export { crc32, crc32Indices } from './crc32.js';
export { readStream, writeStream, MAGIC, FORMAT_VERSION, ENTROPY_MODES, type EntropyMode, type StreamHeader, type Segment } from './format.js';
export { fitTiers, tierTokenizer, checkTierable, type Tier } from './tiers.js';
export { compressFile, decompressFile, compressDirectory, decompressDirectory, type DirectoryResult } from './files.js';
