// Dataset spec strings ("mnist", "emoji:google,apple", "folder:/path") — the one place they are parsed,
// so the CLI, configs and the cache key all agree on what a spec means.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const EMOJI_VENDORS = ['google', 'twitter', 'apple', 'facebook'] as const;
export type EmojiVendor = (typeof EMOJI_VENDORS)[number];

export type DatasetSpec = { kind: 'mnist' } | { kind: 'emoji'; vendors: EmojiVendor[] } | { kind: 'folder'; path: string };

/** Raised for bad specs, bad options and unusable (e.g. empty) datasets. Messages are one line. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

const VALID_FORMS = `valid forms: 'mnist', 'emoji:<vendor>[,<vendor>…]' (vendors: ${EMOJI_VENDORS.join(', ')}), 'folder:<path>'`;

/** Parses a spec string. Folder paths are resolved to absolute paths (relative to the working directory; '~/' is home). */
export function parseDatasetSpec(spec: string): DatasetSpec {
  if (typeof spec !== 'string') throw new DatasetError(`dataset spec must be a string; ${VALID_FORMS}`);
  const s = spec.trim();
  if (s === 'mnist') return { kind: 'mnist' };
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  const arg = colon < 0 ? '' : s.slice(colon + 1);
  if (kind === 'emoji') {
    const names = arg
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    if (names.length === 0) throw new DatasetError(`dataset spec '${spec}': no emoji vendor given; ${VALID_FORMS}`);
    const vendors: EmojiVendor[] = [];
    for (const v of names) {
      if (!(EMOJI_VENDORS as readonly string[]).includes(v)) {
        throw new DatasetError(`dataset spec '${spec}': unknown emoji vendor '${v}'; ${VALID_FORMS}`);
      }
      // Duplicates would silently double-count images; drop them so 'google,google' ≡ 'google'.
      if (!vendors.includes(v as EmojiVendor)) vendors.push(v as EmojiVendor);
    }
    return { kind: 'emoji', vendors };
  }
  if (kind === 'folder') {
    if (arg === '') throw new DatasetError(`dataset spec '${spec}': no folder path given; ${VALID_FORMS}`);
    // '~/' is expanded here because specs often arrive quoted (configs, --data '…'), past the shell.
    const path = arg === '~' || arg.startsWith('~/') ? join(homedir(), arg.slice(1)) : arg;
    return { kind: 'folder', path: resolve(path) };
  }
  throw new DatasetError(`unknown dataset spec '${spec}'; ${VALID_FORMS}`);
}

/** The canonical string for a parsed spec (used in messages and cache keys). */
export function formatDatasetSpec(spec: DatasetSpec): string {
  switch (spec.kind) {
    case 'mnist':
      return 'mnist';
    case 'emoji':
      return `emoji:${spec.vendors.join(',')}`;
    case 'folder':
      return `folder:${spec.path}`;
  }
}
