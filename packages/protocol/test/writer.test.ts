/**
 * SlabWriter: bytes written by method or straight into the slab come out of
 * `take()` in order, across slabs, with large values referenced.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResponseWriter, SlabWriter } from '../src/writer.js';

describe('SlabWriter', () => {
  it('room/commit keeps exactly the bytes written, across slab boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 40 }), fc.nat({ max: 30 })), { maxLength: 60 }),
        fc.integer({ min: 16, max: 256 }),
        (lines, slabSize) => {
          const w = new SlabWriter({ slabSize });
          let expected = '';
          for (const [text, spare] of lines) {
            const bytes = Buffer.from(text, 'latin1');
            // Ask for more room than is used: only what is committed is sent.
            const at = w.room(bytes.length + spare);
            const end = at + bytes.copy(w.current, at);
            w.commit(end);
            expected += bytes.toString('latin1');
          }
          expect(w.length).toBe(expected.length);
          expect(Buffer.concat(w.take()).toString('latin1')).toBe(expected);
          expect(w.take()).toEqual([]);
        },
      ),
    );
  });

  it('references values at the threshold and copies smaller ones', () => {
    const w = new SlabWriter({ slabSize: 128, referenceThreshold: 32 });
    const big = Buffer.alloc(32, 0x62);
    const small = Buffer.alloc(31, 0x73);
    w.ascii('a ');
    w.bytes(big);
    w.crlf();
    w.bytes(small);
    const out = w.take();
    expect(out).toContain(big);
    expect(out).not.toContain(small);
    expect(Buffer.concat(out).toString('latin1')).toBe(`a ${'b'.repeat(32)}\r\n${'s'.repeat(31)}`);
  });

  it('discard drops what was not taken; the next batch starts clean', () => {
    const w = new SlabWriter({ slabSize: 64, referenceThreshold: 16 });
    w.ascii('kept');
    expect(Buffer.concat(w.take()).toString()).toBe('kept');
    w.ascii('lost');
    w.bytes(Buffer.alloc(20, 0x78));
    w.decimal(12345);
    w.discard();
    expect(w.length).toBe(0);
    w.signed(-7);
    expect(Buffer.concat(w.take()).toString()).toBe('-7');
  });

  it('ResponseWriter is the same writer', () => {
    expect(new ResponseWriter()).toBeInstanceOf(SlabWriter);
  });
});
