import { describe, expect, it } from 'vitest';
import { editDistance, nearest } from '../src/suggest.js';

describe('suggestions for a mistyped name', () => {
  it('editDistance counts inserts, deletes, substitutions and swaps of neighbours', () => {
    expect(editDistance('conns', 'conns')).toBe(0);
    expect(editDistance('conn', 'conns')).toBe(1);
    expect(editDistance('blats', 'blast')).toBe(1);
    expect(editDistance('prot', 'port')).toBe(1);
    expect(editDistance('', 'json')).toBe(4);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('nearest: within a third of the word (2 edits at least), ignoring case, - and _; else the one name it begins', () => {
    const names = ['port', 'protocol', 'key-length', 'key-prefix', 'duration', 'depth'];
    expect(nearest('key_length', names)).toBe('key-length');
    expect(nearest('KeyLenght', names)).toBe('key-length');
    expect(nearest('dpeth', names)).toBe('depth');
    expect(nearest('proto', names), 'begins protocol, 2 edits from port').toBe('protocol');
    expect(nearest('dur', names)).toBe('duration');
    expect(nearest('key', names), 'begins two names').toBeUndefined();
    expect(nearest('bogus', names)).toBeUndefined();
  });
});
