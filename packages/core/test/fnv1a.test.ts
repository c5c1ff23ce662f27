import { describe, expect, it } from 'vitest';
import { fnv1a32 } from '../src/index.js';

describe('fnv1a32', () => {
  it('gives the published FNV-1a 32-bit values', () => {
    // Test vectors of the FNV reference (offset basis for the empty input).
    expect(fnv1a32(Buffer.alloc(0))).toBe(0x811c9dc5);
    expect(fnv1a32(Buffer.from('a'))).toBe(0xe40c292c);
    expect(fnv1a32(Buffer.from('foobar'))).toBe(0xbf9cf968);
  });

  it('hashes only the bytes before end', () => {
    expect(fnv1a32(Buffer.from('foobar!!'), 6)).toBe(fnv1a32(Buffer.from('foobar')));
  });
});
