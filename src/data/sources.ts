// Where a dataset's images come from. Each source lists its items (identity, label, how to decode) and
// a fingerprint of its files, cheaply and without decoding, so a cache hit never touches the pixels.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { RawImage } from './images.js';
import { DatasetError, formatDatasetSpec, type DatasetSpec, type EmojiVendor } from './spec.js';

export interface SourceItem {
  /** Stable identity (split hashing, messages, cache): 'mnist/3/17', 'google/1f600.png', 'cats/a.png'. */
  id: string;
  label: number;
  /** A file path, or pixels already in memory (MNIST). */
  input: string | RawImage;
}

export interface Source {
  /** Canonical spec string. */
  spec: string;
  classNames: string[];
  labelled: boolean;
  /** The images' own square side when they all share one (MNIST 28, emoji 64); folders have none. */
  nativeSide: number | undefined;
  /** Channels to store for a requested channel count: grey sources store 1 and are replicated on read. */
  storeChannels(requested: 1 | 3): 1 | 3;
  /** Hash over everything that determines the decoded pixels (file names, sizes, mtimes, versions). */
  fingerprint: string;
  /** Facts worth one warning line (e.g. images ignored outside class folders). */
  notes: string[];
  /** The items, in a deterministic order. May be costly (MNIST parses 20 MB of JSON): call on a cache miss. */
  items(): Promise<SourceItem[]> | SourceItem[];
}

const require = createRequire(import.meta.url);

function packageDir(name: string, spec: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new DatasetError(`${spec}: the npm package '${name}' is not installed`);
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** One fingerprint line per file: a changed, added or removed file changes the hash. */
function fileLine(name: string, st: Stats | undefined): string {
  return st ? `${name}\t${st.size}\t${st.mtimeMs}\n` : `${name}\t-\n`;
}

const MNIST_SIDE = 28;
const EMOJI_SIDE = 64;

// ---------------------------------------------------------------- mnist
// The `mnist` package stores each digit class as src/digits/<d>.json = {data: number[]}: that class's
// samples, 784 values each, row-major 28×28, values byte/255 rounded to 3 decimals. We read the files
// directly (its API samples with Math.random) and round back to the original bytes.
function mnistSource(spec: string): Source {
  const dir = join(packageDir('mnist', spec), 'src', 'digits');
  const files = Array.from({ length: 10 }, (_, d) => join(dir, `${d}.json`));
  const h = createHash('sha256');
  h.update(`mnist ${JSON.parse(readFileSync(join(dir, '..', '..', 'package.json'), 'utf8')).version}\n`);
  for (const f of files) h.update(fileLine(relative(dir, f), statOrUndefined(f)));
  return {
    spec,
    classNames: Array.from({ length: 10 }, (_, d) => String(d)),
    labelled: true,
    nativeSide: MNIST_SIDE,
    storeChannels: () => 1,
    fingerprint: h.digest('hex'),
    notes: [],
    items() {
      const items: SourceItem[] = [];
      const px = MNIST_SIDE * MNIST_SIDE;
      for (let d = 0; d < 10; d++) {
        const values = (JSON.parse(readFileSync(files[d]!, 'utf8')) as { data: number[] }).data;
        if (!Array.isArray(values) || values.length % px !== 0) {
          throw new DatasetError(`${spec}: ${files[d]} does not hold whole 28×28 images`);
        }
        const bytes = new Uint8Array(values.length);
        for (let i = 0; i < values.length; i++) bytes[i] = Math.min(255, Math.max(0, Math.round(values[i]! * 255)));
        for (let k = 0; k < values.length / px; k++) {
          const data = bytes.subarray(k * px, (k + 1) * px);
          items.push({ id: `mnist/${d}/${k}`, label: d, input: { data, width: MNIST_SIDE, height: MNIST_SIDE, channels: 1 } });
        }
      }
      return items;
    },
  };
}

// ---------------------------------------------------------------- emoji
interface EmojiEntry {
  image: string;
  category?: string;
  skin_variations?: Record<string, { image: string }>;
}

// emoji-datasource-<vendor>/emoji.json lists every emoji (skin-tone variants nested under
// skin_variations, sharing the base's category); the 64 px PNGs are img/<vendor>/64/<image>. Not every
// vendor draws every emoji — entries without a file are skipped (expected, so not warned about).
function emojiSource(spec: string, vendors: EmojiVendor[]): Source {
  const found: { id: string; category: string; path: string }[] = [];
  const h = createHash('sha256');
  for (const vendor of vendors) {
    const root = packageDir(`emoji-datasource-${vendor}`, spec);
    const jsonPath = join(root, 'emoji.json');
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
    h.update(`emoji ${vendor} ${version}\n`);
    h.update(fileLine('emoji.json', statOrUndefined(jsonPath)));
    const entries = JSON.parse(readFileSync(jsonPath, 'utf8')) as EmojiEntry[];
    const imgDir = join(root, 'img', vendor, '64');
    for (const e of entries) {
      const category = e.category ?? 'Uncategorized';
      for (const v of [e, ...Object.values(e.skin_variations ?? {})]) {
        const path = join(imgDir, v.image);
        const st = statOrUndefined(path);
        if (!st?.isFile()) continue;
        h.update(fileLine(`${vendor}/${v.image}`, st));
        found.push({ id: `${vendor}/${v.image}`, category, path });
      }
    }
  }
  // Alphabetical class order: stable across package versions that reorder emoji.json.
  const classNames = [...new Set(found.map((f) => f.category))].sort();
  const index = new Map(classNames.map((c, i) => [c, i]));
  const items = found.map((f) => ({ id: f.id, label: index.get(f.category)!, input: f.path }));
  return {
    spec,
    classNames,
    labelled: true,
    nativeSide: EMOJI_SIDE,
    storeChannels: (c) => c,
    fingerprint: h.digest('hex'),
    notes: [],
    items: () => items,
  };
}

// ---------------------------------------------------------------- folder
const IMAGE_EXT = /\.(png|jpe?g|webp)$/i;

/** Image files under dir (recursive, sorted, hidden entries skipped), as paths relative to `base`. */
function walkImages(dir: string, base: string, seen: Set<string>, unreadableDirs: string[]): string[] {
  let real: string;
  let entries: string[];
  try {
    real = realpathSync(dir);
    entries = readdirSync(dir).sort();
  } catch (e) {
    unreadableDirs.push(`${relative(base, dir) || '.'}: ${(e as Error).message.split('\n')[0]}`);
    return [];
  }
  if (seen.has(real)) return []; // a symlink loop, or the same folder linked twice
  seen.add(real);
  const out: string[] = [];
  for (const name of entries) {
    if (name.startsWith('.')) continue; // .DS_Store, .git, editor temp files
    const p = join(dir, name);
    const st = statOrUndefined(p);
    if (st?.isDirectory()) out.push(...walkImages(p, base, seen, unreadableDirs));
    // A dangling symlink has no stat: keep it if it looks like an image, so it is counted as unreadable.
    else if (IMAGE_EXT.test(name)) out.push(relative(base, p));
  }
  return out;
}

// Labels come from the first-level subfolders (ImageFolder layout: root/<class>/**/<image>); a folder
// with no image-holding subfolders is one unlabelled class.
function folderSource(spec: string, root: string): Source {
  const st = statOrUndefined(root);
  if (!st) throw new DatasetError(`${spec}: folder not found`);
  if (!st.isDirectory()) throw new DatasetError(`${spec}: not a directory`);
  const seen = new Set<string>();
  const unreadableDirs: string[] = [];
  const all = walkImages(root, root, seen, unreadableDirs);
  const topLevel = all.filter((p) => !p.includes('/'));
  const nested = all.filter((p) => p.includes('/'));
  const notes: string[] = [];
  let classNames: string[];
  let labelled: boolean;
  let files: { rel: string; label: number }[];
  if (nested.length > 0) {
    labelled = true;
    classNames = [...new Set(nested.map((p) => p.slice(0, p.indexOf('/'))))].sort();
    const index = new Map(classNames.map((c, i) => [c, i]));
    files = nested.map((rel) => ({ rel, label: index.get(rel.slice(0, rel.indexOf('/')))! }));
    if (topLevel.length > 0) {
      notes.push(`ignored ${topLevel.length} image${topLevel.length === 1 ? '' : 's'} outside the class subfolders (first: ${topLevel[0]})`);
    }
  } else {
    labelled = false;
    classNames = ['unlabelled'];
    files = topLevel.map((rel) => ({ rel, label: 0 }));
  }
  if (unreadableDirs.length > 0) {
    notes.push(`could not list ${unreadableDirs.length} folder${unreadableDirs.length === 1 ? '' : 's'} (first: ${unreadableDirs[0]})`);
  }
  const h = createHash('sha256');
  h.update(`folder ${labelled ? 'labelled' : 'unlabelled'}\n`);
  for (const f of files) h.update(fileLine(f.rel, statOrUndefined(join(root, f.rel))));
  const items = files.map((f) => ({ id: f.rel, label: f.label, input: join(root, f.rel) }));
  return {
    spec,
    classNames,
    labelled,
    nativeSide: undefined,
    storeChannels: (c) => c,
    fingerprint: h.digest('hex'),
    notes,
    items: () => items,
  };
}

/** Lists a dataset's items and fingerprint (no decoding). */
export function openSource(spec: DatasetSpec): Source {
  const s = formatDatasetSpec(spec);
  switch (spec.kind) {
    case 'mnist':
      return mnistSource(s);
    case 'emoji':
      return emojiSource(s, spec.vendors);
    case 'folder':
      return folderSource(s, spec.path);
  }
}
