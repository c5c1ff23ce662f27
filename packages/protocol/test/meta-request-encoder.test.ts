/**
 * The meta request writers: each command's exact line for a given flag
 * order, keys raw or base64, defaults left out or kept, and, against a real
 * memcached, that T before N leaves a created item with N's exptime and an
 * existing one with T's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemcached, type MemcachedProcess } from '@cleave/testkit';
import {
  MetaFlagOrder,
  MetaKeyForm,
  metaKeyForm,
  writeMetaArithmetic,
  writeMetaDebug,
  writeMetaDelete,
  writeMetaGet,
  writeMetaNoop,
  writeMetaStore,
  writeMetaTouch,
  type MetaOpaque,
} from '../src/meta/request-encoder.js';
import { SlabWriter } from '../src/writer.js';
import type { ArithmeticCommand, DeleteCommand, GetCommand, StoreCommand, TouchCommand } from '../src/model.js';
import type { MetaReply } from '../src/text/response-parser.js';
import { ReplySession } from './text-reply-session.js';

const k = (s: string): Buffer => Buffer.from(s, 'latin1');

function line(write: (w: SlabWriter) => void, w = new SlabWriter({ slabSize: 1024, referenceThreshold: 64 })): string {
  write(w);
  return Buffer.concat(w.take()).toString('latin1');
}

const GET = new MetaFlagOrder('btvfcRTNO');
const get = (cmd: GetCommand, base64 = false, opaque: MetaOpaque = 7, flags = GET): string =>
  line((w) => writeMetaGet(w, cmd, base64, flags, opaque));
const STORE = new MetaFlagOrder('bcFTCIEMO');
const store = (cmd: StoreCommand, flags = STORE): string => line((w) => writeMetaStore(w, cmd, false, flags, 7));
const DELETE = new MetaFlagOrder('bCITO');
const del = (cmd: DeleteCommand, flags = DELETE): string => line((w) => writeMetaDelete(w, cmd, false, flags, 7));
const ARITH = new MetaFlagOrder('bTNJCMDtcvO');
const arith = (cmd: ArithmeticCommand, base64 = false, flags = ARITH): string => line((w) => writeMetaArithmetic(w, cmd, base64, flags, 7));

describe('meta request lines', () => {
  it('mg: letters in order, values from the command, absent values left out, the opaque as a number, a token or bare', () => {
    expect(get({ key: k('a') })).toBe('mg a t v f c O7\r\n');
    expect(get({ key: k('a b') }, true)).toBe('mg YSBi b t v f c O7\r\n');
    expect(get({ key: k('a'), touch: -1, vivify: 30, recache: 5 })).toBe('mg a t v f c R5 T-1 N30 O7\r\n');
    // Letters without a value go as they are: the caller picks `u` (no bump) and the like by choosing the order.
    expect(get({ key: k('a') }, false, 7, new MetaFlagOrder('bvuO'))).toBe('mg a v u O7\r\n');
    expect(get({ key: k('a') }, false, k('Oabc'))).toBe('mg a t v f c Oabc\r\n');
    expect(line((w) => writeMetaGet(w, { key: k('a') }, false, GET, undefined))).toBe('mg a t v f c O\r\n');
    // A value letter mg has no value for is left out.
    expect(get({ key: k('a') }, false, 1, new MetaFlagOrder('FkqCs'))).toBe('mg a k q s\r\n');
  });

  it('touch: an mg with T', () => {
    const touch = (cmd: TouchCommand): string => line((w) => writeMetaTouch(w, cmd, false, new MetaFlagOrder('bTO'), 9));
    expect(touch({ key: k('a'), exptime: -1 })).toBe('mg a T-1 O9\r\n');
  });

  it('ms: the length, then the fields that differ from the defaults; keepDefaults writes them all', () => {
    expect(store({ mode: 'set', key: k('a'), value: k('xyz'), flags: 0, exptime: 0 })).toBe('ms a 3 c O7\r\nxyz\r\n');
    expect(
      store({
        mode: 'append',
        key: k('a'),
        value: k(''),
        flags: 0xffffffff,
        exptime: -1,
        compareCas: 2n ** 64n - 1n,
        invalidate: true,
        newCas: 5n,
      }),
    ).toBe('ms a 0 c F4294967295 T-1 C18446744073709551615 I E5 MA O7\r\n\r\n');
    for (const [mode, letter] of [
      ['add', 'E'],
      ['replace', 'R'],
      ['prepend', 'P'],
    ] as const) {
      expect(store({ mode, key: k('a'), value: k('1'), flags: 0, exptime: 0 })).toBe(`ms a 1 c M${letter} O7\r\n1\r\n`);
    }
    expect(store({ mode: 'set', key: k('a'), value: k('1'), flags: 0, exptime: 0 }, new MetaFlagOrder('FTMO', true))).toBe(
      'ms a 1 F0 T0 MS O7\r\n1\r\n',
    );
  });

  it('ms with a large value references it after the line', () => {
    const w = new SlabWriter({ slabSize: 1024, referenceThreshold: 64 });
    const value = Buffer.alloc(100, 0x76);
    writeMetaStore(w, { mode: 'set', key: k('big'), value, flags: 0, exptime: 0 }, false, STORE, 1);
    const chunks = w.take();
    expect(chunks).toContain(value);
    expect(Buffer.concat(chunks).toString('latin1')).toBe(`ms big 100 c O1\r\n${'v'.repeat(100)}\r\n`);
  });

  it('md: C, I and T; a T without an exptime only when keeping defaults', () => {
    expect(del({ key: k('a') })).toBe('md a O7\r\n');
    expect(del({ key: k('a'), compareCas: 9n, invalidate: true, exptime: 30 })).toBe('md a C9 I T30 O7\r\n');
    expect(del({ key: k('a') }, new MetaFlagOrder('TO', true))).toBe('md a T0 O7\r\n');
  });

  it('ma: N and J only to create, M and D only when not the defaults, T before N as ordered', () => {
    expect(arith({ key: k('n'), incr: true, delta: 1n })).toBe('ma n t c v O7\r\n');
    expect(arith({ key: k('n'), incr: true, delta: 1n, initial: 0n, exptime: 0 })).toBe('ma n N0 t c v O7\r\n');
    expect(arith({ key: k('n'), incr: false, delta: 2n ** 64n - 1n, initial: 5n, exptime: 100, touch: 50, compareCas: 3n }, true)).toBe(
      'ma bg== b T50 N100 J5 C3 MD D18446744073709551615 t c v O7\r\n',
    );
    expect(arith({ key: k('n'), incr: true, delta: 1n }, false, new MetaFlagOrder('MDJ', true))).toBe('ma n MI D1 J0\r\n');
  });

  it('me and mn', () => {
    expect(line((w) => writeMetaDebug(w, k('a b'), true))).toBe('me YSBi b\r\n');
    expect(line((w) => writeMetaDebug(w, k('ab'), false))).toBe('me ab\r\n');
    expect(line(writeMetaNoop)).toBe('mn\r\n');
  });

  it('many lines span slabs without losing a byte', () => {
    const w = new SlabWriter({ slabSize: 256, referenceThreshold: 64 });
    let expected = '';
    for (let i = 0; i < 200; i++) {
      writeMetaGet(w, { key: k(`key${i}`) }, false, GET, i + 1);
      expected += `mg key${i} t v f c O${i + 1}\r\n`;
    }
    expect(Buffer.concat(w.take()).toString('latin1')).toBe(expected);
  });
});

describe('metaKeyForm', () => {
  it('raw unless space, CR, LF or NUL; base64 up to 186 bytes; nothing else', () => {
    expect(metaKeyForm(k('plain'), false)).toBe(MetaKeyForm.RAW);
    expect(metaKeyForm(Buffer.from([0x09, 0x7f, 0xff, 0x01]), false)).toBe(MetaKeyForm.RAW);
    for (const bad of [' ', '\r', '\n', '\0']) expect(metaKeyForm(k(`a${bad}b`), false)).toBe(MetaKeyForm.BASE64);
    expect(metaKeyForm(k('x'.repeat(250)), false)).toBe(MetaKeyForm.RAW);
    // Too long raw: base64 would be longer still.
    expect(metaKeyForm(k('x'.repeat(251)), false)).toBe(MetaKeyForm.INVALID);
    expect(metaKeyForm(Buffer.alloc(186, 0x20), false)).toBe(MetaKeyForm.BASE64);
    expect(metaKeyForm(Buffer.alloc(187, 0x20), false)).toBe(MetaKeyForm.INVALID);
    expect(metaKeyForm(Buffer.alloc(0), false)).toBe(MetaKeyForm.INVALID);
    // The client sent it base64: base64 again while it fits, else raw when it can be.
    expect(metaKeyForm(k('abc'), true)).toBe(MetaKeyForm.BASE64);
    expect(metaKeyForm(k('y'.repeat(200)), true)).toBe(MetaKeyForm.RAW);
  });
});

describe('against memcached: T before N', () => {
  let mc: MemcachedProcess;
  let s: ReplySession;
  beforeAll(async () => {
    mc = await startMemcached();
    s = await ReplySession.open(mc.port);
  });
  afterAll(async () => {
    s?.close();
    await mc?.stop();
  });

  const ttl = async (write: (w: SlabWriter) => void): Promise<number | undefined> => {
    const w = new SlabWriter();
    write(w);
    const r = await s.send(Buffer.concat(w.take()));
    return (r.replies[0] as MetaReply).ttl;
  };
  const ttlOf = async (key: string): Promise<number | undefined> =>
    ttl((w) => writeMetaGet(w, { key: k(key) }, false, new MetaFlagOrder('t'), undefined));

  it('mg: a miss ends with N, a hit with T', async () => {
    const flags = new MetaFlagOrder('TNv');
    await ttl((w) => writeMetaGet(w, { key: k('g1'), touch: 50, vivify: 100 }, false, flags, undefined));
    expect(await ttlOf('g1')).toBe(100);
    await ttl((w) => writeMetaGet(w, { key: k('g1'), touch: 50, vivify: 100 }, false, flags, undefined));
    expect(await ttlOf('g1')).toBe(50);
  });

  it('ma: a created counter ends with N, an existing one with T', async () => {
    const flags = new MetaFlagOrder('TNJt');
    const cmd = { key: k('a1'), incr: true, delta: 1n, initial: 5n, exptime: 100, touch: 50 };
    expect(await ttl((w) => writeMetaArithmetic(w, cmd, false, flags, undefined))).toBe(100);
    expect(await ttl((w) => writeMetaArithmetic(w, cmd, false, flags, undefined))).toBe(50);
  });
});
