/**
 * The request lines the handler writes for each op (its flag orders, through
 * protocol's meta request writers), and how keys pick a connection. The
 * writers themselves (numbers, base64 keys, every command's rules) are
 * tested in protocol.
 */
import { describe, expect, it } from 'vitest';
import { SlabWriter } from '@cleave/protocol';
import { KeySlots, keySlot, pickConnection } from '../src/picker.js';
import {
  BIT_B64,
  BIT_BEFORE,
  BIT_HL,
  BIT_K,
  BIT_U,
  OP_ARITH,
  OP_DELETE,
  OP_FLUSH,
  OP_GET,
  OP_MN,
  OP_PROBE,
  OP_STORE,
  OP_TOUCH,
  Op,
  encodeOp,
} from '../src/ops.js';
import { k } from './helpers.js';

function line(kind: number, cmd: unknown, bits = 0, id = 7): string {
  const w = new SlabWriter({ slabSize: 1024, referenceThreshold: 64 });
  const op = new Op(kind, cmd);
  op.bits = bits;
  op.id = id;
  encodeOp(w, op);
  return Buffer.concat(w.take()).toString('latin1');
}

describe('request lines', () => {
  it('mg: t first, then value, flags, CAS, the facts asked for, u, R, T before N, the opaque', () => {
    expect(line(OP_GET, { key: k('a') })).toBe('mg a t v f c O7\r\n');
    expect(line(OP_GET, { key: k('a b') }, BIT_B64)).toBe('mg YSBi b t v f c O7\r\n');
    expect(line(OP_GET, { key: k('a'), touch: 30 }, BIT_K | BIT_HL | BIT_U)).toBe('mg a t v f c k h l u T30 O7\r\n');
    expect(line(OP_GET, { key: k('a') }, BIT_HL)).toBe('mg a t v f c h l O7\r\n');
    // memcached applies T then N: a created item ends with N (the command's vivify), an existing one gets T.
    expect(line(OP_GET, { key: k('a'), touch: -1, vivify: 30, recache: 5 })).toBe('mg a t v f c R5 T-1 N30 O7\r\n');
  });

  it('ms: length, c, then only the fields that differ from the defaults; E is never sent', () => {
    expect(line(OP_STORE, { mode: 'set', key: k('a'), value: k('xyz'), flags: 0, exptime: 0 })).toBe('ms a 3 c O7\r\nxyz\r\n');
    expect(
      line(OP_STORE, {
        mode: 'append',
        key: k('a'),
        value: k(''),
        flags: 0xffffffff,
        exptime: -1,
        compareCas: 2n ** 64n - 1n,
        invalidate: true,
        newCas: 5n,
      }),
    ).toBe('ms a 0 c F4294967295 T-1 C18446744073709551615 I MA O7\r\n\r\n');
    expect(line(OP_STORE, { mode: 'add', key: k('a b'), value: k('1'), flags: 0, exptime: 0 }, BIT_B64)).toBe(
      'ms YSBi 1 b c ME O7\r\n1\r\n',
    );
  });

  it('md, ma (T before N), the probe, touch, flush_all and mn', () => {
    expect(line(OP_DELETE, { key: k('a') })).toBe('md a O7\r\n');
    expect(line(OP_DELETE, { key: k('a'), compareCas: 9n, invalidate: true, exptime: 30 })).toBe('md a C9 I T30 O7\r\n');
    expect(line(OP_ARITH, { key: k('n'), incr: true, delta: 1n })).toBe('ma n t c v O7\r\n');
    expect(
      line(
        OP_ARITH,
        { key: k('n'), incr: false, delta: 2n ** 64n - 1n, initial: 5n, exptime: 100, touch: 50, compareCas: 3n, newCas: 4n },
        BIT_B64,
      ),
    ).toBe('ma bg== b T50 N100 J5 C3 MD D18446744073709551615 t c v O7\r\n');
    expect(line(OP_PROBE, { key: k('n'), incr: true, delta: 1n, touch: 9 })).toBe('mg n f u O7\r\n');
    expect(line(OP_PROBE, { key: k('n'), incr: true, delta: 1n }, BIT_B64 | BIT_BEFORE)).toBe('mg bg== b f u O7\r\n');
    expect(line(OP_TOUCH, { key: k('a'), exptime: 10 })).toBe('mg a T10 O7\r\n');
    expect(line(OP_FLUSH, 0)).toBe('flush_all\r\n');
    expect(line(OP_FLUSH, 15)).toBe('flush_all 15\r\n');
    expect(line(OP_MN, undefined)).toBe('mn\r\n');
  });
});

describe('picking a connection', () => {
  it('keySlot is stable and spreads keys', () => {
    expect(keySlot(k('a'))).toBe(keySlot(k('a')));
    const buckets = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) buckets[keySlot(k(`key:${i}`)) % 4]!++;
    for (const b of buckets) expect(b).toBeGreaterThan(800);
  });

  it('sends a request to the connection with the fewest outstanding, unless its key has requests outstanding', () => {
    const slots = new KeySlots();
    const conns = [
      { inFlight: 3, ready: true },
      { inFlight: 1, ready: true },
      { inFlight: 2, ready: true },
    ];
    const a = keySlot(k('a'));
    expect(pickConnection(slots, conns, a)).toBe(1);
    slots.take(a, 1);
    conns[1]!.inFlight = 9;
    // 'a' has a request outstanding on connection 1: the next stays there, behind it.
    expect(pickConnection(slots, conns, a)).toBe(1);
    const b = keySlot(k('b'));
    expect(b).not.toBe(a);
    expect(pickConnection(slots, conns, b)).toBe(2);
    slots.release(a);
    // Once 'a' has nothing outstanding it goes to the least loaded again.
    expect(pickConnection(slots, conns, a)).toBe(2);
  });

  it('skips a connection that is not ready (backing off it would refuse at once) while another is', () => {
    const slots = new KeySlots();
    const conns = [
      { inFlight: 0, ready: false },
      { inFlight: 5, ready: true },
      { inFlight: 0, ready: false },
    ];
    expect(pickConnection(slots, conns, keySlot(k('a')))).toBe(1);
    conns[1]!.ready = false;
    // None ready: the first, which queues the request (opening) or refuses it (backing off).
    expect(pickConnection(slots, conns, keySlot(k('a')))).toBe(0);
  });
});
