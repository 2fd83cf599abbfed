// Size limits checked up front, before anything large is allocated: a 249 KB PNG can decode to a
// 16000×16000 image, a token file can name a 2000×2000 grid and `outpaint --right 100000` asks for
// an endless canvas. Each limit has a documented default that an environment variable raises (or
// lowers); errors are one line naming the limit and the variable. README § "Sampling" lists them.

export interface LimitSpec {
  /** Environment variable that overrides the default. */
  env: string;
  default: number;
  /** The unit counted, for messages: "pixels". */
  what: string;
}

export const LIMITS = {
  /** Pixels (width × height) of an image read (encode, reconstruct, inpaint/outpaint inputs, masks) or produced (decode, outpaint). */
  pixels: { env: 'TESSERA_MAX_PIXELS', default: 2048 * 2048, what: 'pixels' },
  /** Token grid positions (h × w) decoded at once (tessera decode). */
  gridTokens: { env: 'TESSERA_MAX_GRID', default: 256 * 256, what: 'positions' },
  /** Tokens added on any one side by outpainting. */
  outpaintTokens: { env: 'TESSERA_MAX_OUTPAINT', default: 64, what: 'tokens' },
  /** Images one `sample` run generates. */
  samples: { env: 'TESSERA_MAX_SAMPLES', default: 10_000, what: 'images' },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMITS;

/** A size over its limit; the message says how to raise the limit. */
export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitError';
  }
}

/** The limit in force: the environment variable when set (a positive integer), else the default. */
export function limit(name: LimitName, env: NodeJS.ProcessEnv = process.env): number {
  const spec: LimitSpec = LIMITS[name];
  const raw = env[spec.env];
  if (raw === undefined || raw.trim() === '') return spec.default;
  const t = raw.trim().replace(/_/g, '');
  const v = Number(t);
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(v) || v < 1) throw new LimitError(`${spec.env} must be a positive whole number, got '${raw}'`);
  return v;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/**
 * Throws LimitError when `value` exceeds the limit: "<subject> is 256,000,000 pixels, over the limit
 * of 4,194,304; set TESSERA_MAX_PIXELS=256000000 to allow it".
 */
export function checkLimit(name: LimitName, value: number, subject: string): void {
  const max = limit(name);
  if (value <= max) return;
  const spec: LimitSpec = LIMITS[name];
  throw new LimitError(`${subject} is ${fmt(value)} ${spec.what}, over the limit of ${fmt(max)}; set ${spec.env}=${value} to allow it`);
}
