import { describe, expect, it } from 'vitest';
import { ITEM_HEADER_BYTES, itemTooLarge, memcachedItemSize, slabClassFor } from '../src/item-size.js';

describe('memcached item sizes', () => {
  it('counts 59 bytes of overhead, 4 more for non-zero flags', () => {
    expect(ITEM_HEADER_BYTES).toBe(59);
    expect(memcachedItemSize(1, 5, 3)).toBe(67);
    expect(memcachedItemSize(1, 0, 1)).toBe(61);
  });

  it('finds an item too large one byte past the limit, flags included', () => {
    const max = 1024 * 1024;
    const fits = max - 59 - 3;
    expect(itemTooLarge(3, 0, fits, max)).toBe(false);
    expect(itemTooLarge(3, 0, fits + 1, max)).toBe(true);
    expect(itemTooLarge(3, 1, fits - 4, max)).toBe(false);
    expect(itemTooLarge(3, 1, fits - 3, max)).toBe(true);
  });

  it('maps sizes to the default slab classes: 96-byte chunks growing by 1.25, last class 512 KiB', () => {
    expect([96, 97, 120, 121, 152, 524288, 524289, 1048576].map(slabClassFor)).toEqual([1, 2, 2, 3, 3, 39, 39, 39]);
  });
});
