import { describe, expect, it } from 'vitest';
import { ReadSlabs } from '../src/read-slabs.js';

describe('ReadSlabs', () => {
  it('hands out regions one after another and never gives out bytes already read again', () => {
    const slabs = new ReadSlabs();
    const taken: { bytes: Buffer; text: string }[] = [];
    let total = 0;
    // Reads of assorted sizes, each written into the region as a socket would, well past one slab.
    for (let i = 0; total < 1_500_000; i++) {
      const region = slabs.next();
      expect(region.length).toBeGreaterThanOrEqual(64 * 1024);
      const n = 1 + ((i * 7919) % region.length);
      const text = `read ${i} `.repeat(Math.ceil(n / 6)).slice(0, n);
      region.write(text, 0, 'latin1');
      const bytes = slabs.took(n);
      taken.push({ bytes, text });
      total += n;
    }
    for (const t of taken) expect(t.bytes.toString('latin1')).toBe(t.text);
  });
});
