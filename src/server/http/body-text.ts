import { invalid } from '../../core/errors.js';

// Fatal: a body that is not UTF-8 is refused, never read with U+FFFD in place of its bytes.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A JSON body's text, exactly: JSON is UTF-8 (RFC 8259), and a body that is not is refused rather
 * than decoded lossily (a BYTES element would silently change). Cheap when valid: Buffer#toString
 * replaces every ill-formed sequence with U+FFFD, so a text without U+FFFD is exact; only a body
 * with one (sent, or replaced) is checked with the fatal decoder.
 *
 * @throws INVALID_ARGUMENT `request body is not valid UTF-8 (byte 0xc3 at offset 41); JSON bodies must be UTF-8`
 */
export function bodyText(raw: Buffer): string {
  const text = raw.toString('utf8');
  if (text.indexOf('\ufffd') < 0) return text;
  try {
    return strictUtf8.decode(raw);
  } catch {
    const offset = Buffer.byteLength(text.slice(0, text.indexOf('\ufffd')));
    throw invalid(
      `request body is not valid UTF-8 (byte 0x${(raw[offset] ?? 0).toString(16).padStart(2, '0')} at offset ${offset}); JSON bodies must be UTF-8`,
    );
  }
}
