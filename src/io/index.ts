// Serialization: safetensors, Tessera model files, and a restricted reader for PyTorch checkpoints
// (torch.save's zip format and the legacy pre-1.6 one); plus the one weight-file reader (readWeightFile),
// the one model loader (buildFromModelFile), crash-safe writes, the config validator and the YAML reader.
// - Every malformed input raises a one-line FormatError naming the file and the key/record at fault.
// - Loaded tensors are CPU tensors owned by the caller (they join the current tidy()/scope(), like any
//   new tensor). Torch checkpoints keep PyTorch's storage sharing: views come back as views.
// - Pickled dicts/OrderedDicts become plain objects in insertion order (a Map when keys are not
//   str/int/bool/None); unknown classes become inert { __class__, args, state } placeholders. See pickle.ts.
export { FormatError } from './errors.js';
export { writeFileAtomic, removeStaleTempFiles, ensureDir, tempPathFor, writeErrorMessage } from './atomic.js';
export {
  ConfigError,
  isObject,
  rejectUnknownKeys,
  checkNumber,
  checkInt,
  checkPositiveInt,
  checkBoolean,
  checkString,
  checkEnum,
  deepEqual,
  firstDifference,
} from './validate.js';
export {
  serializeSafetensors,
  parseSafetensors,
  saveSafetensors,
  loadSafetensors,
  readSafetensorsHeader,
  SAFETENSORS_MAX_HEADER,
  type SafetensorsTensorInfo,
} from './safetensors.js';
export {
  readWeightFile,
  sniffWeightFile,
  sniffWeightBytes,
  describeWeightFormat,
  readWholeFile,
  fileOp,
  fileErrorMessage,
  type WeightFile,
  type WeightFileFormat,
} from './weights.js';
export {
  saveModelFile,
  storeModelFileAs,
  type FloatStorage,
  type StorageResult,
  loadModelFile,
  buildFromModelFile,
  loadParts,
  CHECKPOINT_KEY,
  type BuildOptions,
  serializeModelFile,
  parseModelFile,
  MODEL_FILE_VERSION,
  MODEL_KEYS,
  CODEC_PREFIX,
  modelTensors,
  type ModelFile,
  type ModelFileInput,
} from './model-file.js';
export { unpickle, type UnpickleOptions, type GlobalHandler, type PickledObject } from './pickle.js';
export { ZipReader, type ZipEntry } from './zip.js';
export { loadTorchCheckpoint, stateDictFrom, isTensorDict, type TorchLoadOptions } from './torch-checkpoint.js';
export { parseYaml, YamlError, type YamlValue } from './yaml.js';
export { packageRoot, packageJson } from './package-root.js';
