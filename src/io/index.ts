// Serialization: safetensors, Tessera model files, and a restricted reader for PyTorch checkpoints
// (torch.save's zip format and the legacy pre-1.6 one).
// - Every malformed input raises a one-line FormatError naming the file and the key/record at fault.
// - Loaded tensors are CPU tensors owned by the caller (they join the current tidy()/scope(), like any
//   new tensor). Torch checkpoints keep PyTorch's storage sharing: views come back as views.
// - Pickled dicts/OrderedDicts become plain objects in insertion order (a Map when keys are not
//   str/int/bool/None); unknown classes become inert { __class__, args, state } placeholders. See pickle.ts.
export { FormatError } from './errors.js';
export { writeFileAtomic } from './atomic.js';
export { serializeSafetensors, parseSafetensors, saveSafetensors, loadSafetensors, SAFETENSORS_MAX_HEADER } from './safetensors.js';
export {
  saveModelFile,
  loadModelFile,
  serializeModelFile,
  parseModelFile,
  MODEL_FILE_VERSION,
  MODEL_KEYS,
  type ModelFile,
  type ModelFileInput,
} from './model-file.js';
export { unpickle, type UnpickleOptions, type GlobalHandler, type PickledObject } from './pickle.js';
export { ZipReader, type ZipEntry } from './zip.js';
export { loadTorchCheckpoint, stateDictFrom, isTensorDict, type TorchLoadOptions } from './torch-checkpoint.js';
