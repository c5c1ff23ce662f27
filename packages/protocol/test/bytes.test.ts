import { describe, expect, it } from 'vitest';
import { Viewer, bufferView } from '../src/bytes.js';

describe('bufferView', () => {
  it('makes a real Buffer that shares the memory it views', () => {
    const base = Buffer.allocUnsafeSlow(16).fill(0);
    base.write('hello world', 2, 'latin1');
    const v = bufferView(base.buffer, 2, 5);
    expect(Buffer.isBuffer(v)).toBe(true);
    expect(v.constructor).toBe(Buffer);
    expect(v).toEqual(Buffer.from('hello'));
    expect(v.toString('latin1')).toBe('hello');
    base[2] = 0x48;
    expect(v.toString('latin1')).toBe('Hello');
    expect(v.subarray(1, 3)).toEqual(Buffer.from('el'));
  });
});

describe('Viewer', () => {
  it("views whichever Buffer it is given, at that Buffer's own offset", () => {
    // Pooled small Buffers share one ArrayBuffer at different offsets.
    const a = Buffer.from('aaaa-key-one');
    const b = Buffer.from('bbbb-key-two');
    expect(a.buffer === b.buffer || a.byteOffset !== 0 || b.byteOffset !== 0).toBe(true);
    const viewer = new Viewer();
    expect(viewer.view(a, 5, 12).toString()).toBe('key-one');
    expect(viewer.view(b, 5, 12).toString()).toBe('key-two');
    expect(viewer.view(a, 0, 4).toString()).toBe('aaaa');
    const sub = b.subarray(5);
    expect(viewer.view(sub, 4, 7).toString()).toBe('two');
  });
});
