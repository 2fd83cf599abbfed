// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) — the checksum of zip and PNG, so any tool can
// recompute it. Used by the bitstream to verify decoded indices.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `bytes`, continuing from `crc` (0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of integer indices, each taken as a little-endian uint32. */
export function crc32Indices(indices: ArrayLike<number>, crc = 0): number {
  const b = new Uint8Array(indices.length * 4);
  const v = new DataView(b.buffer);
  for (let i = 0; i < indices.length; i++) v.setUint32(i * 4, indices[i]! >>> 0, true);
  return crc32(b, crc);
}
