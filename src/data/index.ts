// Datasets for Tessera: spec strings ('mnist', 'emoji:<vendor>,…', 'folder:<path>'), decoded uint8
// stores cached in memory and on disk, typed views with augmentation, deterministic splits, a
// resumable seeded DataLoader, and image I/O helpers.
export { parseDatasetSpec, formatDatasetSpec, DatasetError, EMOJI_VENDORS, type DatasetSpec, type EmojiVendor } from './spec.js';
export { loadDataset, Dataset, type LoadOptions, type LoadInfo, type Transform, type Sample, type Batch, type SplitOptions } from './dataset.js';
export { DataLoader, type DataLoaderOptions, type DataLoaderState, type LoaderBatch } from './loader.js';
export { Rng, type Seed } from './rng.js';
export { classBalancedOrder, balancedShares } from './balance.js';
export { defaultCacheDir } from './cache.js';
export { readImage, listImageFiles, IMAGE_EXT, writePng, imagesToGrid, tensorToImage, imageToTensor, decodeSquare, type RawImage } from './images.js';
export { resolveClass, normalizeClassName, listClasses, ClassNameError } from './classes.js';
export { LIMITS, limit, checkLimit, LimitError, type LimitName, type LimitSpec } from './limits.js';
