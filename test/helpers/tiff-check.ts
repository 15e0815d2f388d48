/** Whether bytes hold a whole classic little-endian TIFF: every strip or tile of IFD 0 inside the file. */
export function isCompleteTiff(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(0, true) !== 0x4949 || v.getUint16(2, true) !== 42) return false;
  const ifd = v.getUint32(4, true);
  if (ifd + 2 > bytes.length) return false;
  const n = v.getUint16(ifd, true);
  if (ifd + 2 + n * 12 > bytes.length) return false;
  const values = (tag: number): number[] | undefined => {
    for (let i = 0; i < n; i++) {
      const e = ifd + 2 + i * 12;
      if (v.getUint16(e, true) !== tag) continue;
      const type = v.getUint16(e + 2, true);
      const count = v.getUint32(e + 4, true);
      const size = type === 3 ? 2 : 4;
      const at = count * size <= 4 ? e + 8 : v.getUint32(e + 8, true);
      if (at + count * size > bytes.length) return undefined;
      return Array.from({ length: count }, (_, k) => (size === 2 ? v.getUint16(at + k * 2, true) : v.getUint32(at + k * 4, true)));
    }
    return undefined;
  };
  const offsets = values(273) ?? values(324);
  const counts = values(279) ?? values(325);
  if (!offsets || !counts || offsets.length !== counts.length) return false;
  return offsets.every((o, i) => o + counts[i]! <= bytes.length);
}
