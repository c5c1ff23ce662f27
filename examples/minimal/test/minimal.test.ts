import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RawClient, freePort } from '@cleave/testkit';

const source = fileURLToPath(new URL('../src/server.ts', import.meta.url));

describe('the minimal composed server', () => {
  it('stays under 25 lines', () => {
    expect(readFileSync(source, 'utf8').trimEnd().split('\n').length).toBeLessThan(25);
  });

  it('serves text, meta and binary clients, and stops on SIGTERM', async () => {
    const port = await freePort();
    const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
    const child = spawn(tsx, [source], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('listening on')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const c = await RawClient.connect({ port });
      expect((await c.request('set a 0 0 1\r\nx\r\nmg a v\r\n', 'x\r\n')).toString()).toBe('STORED\r\nVA 1\r\nx\r\n');
      c.close();
      const b = await RawClient.connect({ port });
      const getk = Buffer.alloc(25);
      getk[0] = 0x80;
      getk[1] = 0x0c;
      getk.writeUInt16BE(1, 2);
      getk.writeUInt32BE(1, 8);
      getk[24] = 0x61;
      b.write(getk);
      const reply = await b.read(24 + 4 + 1 + 1);
      expect(reply[0]).toBe(0x81);
      expect(reply.subarray(28).toString()).toBe('ax');
      b.close();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
