import { describe, expect, it } from 'vitest';
import { SlipwayError } from './errors.js';
import {
  ALIAS_MAX_LENGTH,
  MAX_PATH_PARAM_LENGTH,
  NAME_MAX_LENGTH,
  checkAliasName,
  checkName,
  isIdentifier,
  isRuleName,
  isValidName,
} from './names.js';

function refusal(fn: () => unknown): SlipwayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the one name rule', () => {
  it('accepts names up to the limit and refuses one character more, saying how long it was', () => {
    const longest = 'a'.repeat(NAME_MAX_LENGTH);
    expect(checkName('model name', longest)).toBe(longest);
    expect(isValidName(longest)).toBe(true);
    const error = refusal(() => checkName('model name', `${longest}b`));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      `invalid model name "${'a'.repeat(40)}…" (129 characters): use letters, digits, "_", "-" and ".", starting with a letter or digit (1 to 128 characters)`,
    );
    expect(refusal(() => checkName('deployment name', '-x')).message).toBe(
      'invalid deployment name "-x": use letters, digits, "_", "-" and ".", starting with a letter or digit (1 to 128 characters)',
    );
    for (const bad of ['', 'a b', 'a/b', 'a@b', 'a:b', 'é'])
      expect(refusal(() => checkName('model name', bad)).code).toBe('INVALID_ARGUMENT');
    expect(checkAliasName('a'.repeat(ALIAS_MAX_LENGTH))).toHaveLength(64);
    expect(refusal(() => checkAliasName('a'.repeat(ALIAS_MAX_LENGTH + 1))).message).toMatch(
      /\(65 characters\).*\(1 to 64 characters\)$/,
    );
    expect(refusal(() => checkAliasName('1abc')).message).toBe(
      'invalid alias "1abc": use a letter, then letters, digits, "_" or "-" (1 to 64 characters)',
    );
    // A digits-only alias would shadow a Triton-style integer version (`m@1` = newest 1.x.y): refused, as any alias not starting with a letter.
    for (const digits of ['1', '01', '2024'])
      expect(refusal(() => checkAliasName(digits)).message).toBe(
        `invalid alias "${digits}": use a letter, then letters, digits, "_" or "-" (1 to 64 characters)`,
      );
    expect([isIdentifier('a'.repeat(128)), isIdentifier('a'.repeat(129)), isIdentifier('9a')]).toEqual([
      true,
      false,
      false,
    ]);
    expect([isRuleName('a'.repeat(64)), isRuleName('a'.repeat(65)), isRuleName('Upper')]).toEqual([true, false, false]);
  });

  it('gives the router room for the longest path parameter a valid request carries', () => {
    const longestRef = `${'m'.repeat(NAME_MAX_LENGTH)}@${'v'.repeat(NAME_MAX_LENGTH)}:predict`;
    expect(longestRef.length).toBeLessThanOrEqual(MAX_PATH_PARAM_LENGTH);
  });
});
