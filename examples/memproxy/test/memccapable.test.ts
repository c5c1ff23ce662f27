import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemccapable } from '@cleave/testkit';
import { startMemproxy, type Running } from './spawn.js';

describe('memccapable conformance against memproxy', () => {
  let mp: Running;
  beforeAll(async () => {
    mp = await startMemproxy(['-p', '0']);
  });
  afterAll(async () => {
    await mp?.stop();
  });

  it('passes every ascii test', async () => {
    const r = await runMemccapable(mp.port, '-a');
    expect(r.out).not.toMatch(/\[fail\]/);
    expect(r.out).toContain('All tests passed');
    expect(r.code).toBe(0);
  });

  it('passes every binary test', async () => {
    const r = await runMemccapable(mp.port, '-b');
    expect(r.out).not.toMatch(/\[fail\]/);
    expect(r.out).toContain('All tests passed');
    expect(r.code).toBe(0);
  });
});
