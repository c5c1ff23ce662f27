import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemproxy, type Running } from './spawn.js';

function memccapable(port: number, mode: '-a' | '-b'): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('memccapable', ['-h', '127.0.0.1', '-p', String(port), '-t', '5', mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

describe('memccapable conformance against memproxy', () => {
  let mp: Running;
  beforeAll(async () => {
    mp = await startMemproxy(['-p', '0']);
  });
  afterAll(async () => {
    await mp?.stop();
  });

  it('passes every ascii test', async () => {
    const r = await memccapable(mp.port, '-a');
    expect(r.out).not.toMatch(/\[fail\]/);
    expect(r.out).toContain('All tests passed');
    expect(r.code).toBe(0);
  });

  it('passes every binary test', async () => {
    const r = await memccapable(mp.port, '-b');
    expect(r.out).not.toMatch(/\[fail\]/);
    expect(r.out).toContain('All tests passed');
    expect(r.code).toBe(0);
  });
});
