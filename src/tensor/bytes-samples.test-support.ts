/** Test support: BYTES samples for the strict UTF-8 edges (tensor/bytes-text.ts). */

/** Elements as raw bytes: 4-byte little-endian length, then the bytes (written by hand, not by raw-bytes.ts). */
export function lengthPrefixed(elements: readonly Buffer[]): Buffer {
  return Buffer.concat(elements.flatMap((e) => [Buffer.from(Uint32Array.of(e.byteLength).buffer), e]));
}

/** Valid UTF-8 that a lenient or BOM-stripping decoder would change or lose. */
export const TRICKY_VALID: readonly Buffer[] = [
  Buffer.from([0xef, 0xbb, 0xbf, 0x72, 0x65, 0x64]), // BOM + "red": a default TextDecoder drops the BOM
  Buffer.from('🚢 ship 😀', 'utf8'), // 4-byte sequences (surrogate pairs in JS)
  Buffer.from('e\u0301 n\u0303 \u0915\u094d\u0937', 'utf8'), // combining marks, Devanagari conjunct: never normalised
  Buffer.from('\u00ff\u0100\u07ff\u0800\uffff\u{10ffff}', 'utf8'), // the boundaries of each sequence length
  Buffer.from('', 'utf8'),
  Buffer.from('a\ufffdb', 'utf8'), // a U+FFFD the client means (not a replacement)
  Buffer.from(`${'a'.repeat(40)}\ufffd`, 'utf8'), // the same past the byte loop's length
  Buffer.from(`${'a'.repeat(100)}é`, 'utf8'), // past the byte loop's length
];
