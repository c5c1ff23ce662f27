/** src/server.ts as a user runs it: `npx tsx examples/custom-handler/src/server.ts`. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RawClient, freePort } from '@cleave/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));

describe('the example server', () => {
  it('listens on PORT, serves TtlMapHandler and exits cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(tsx, ['examples/custom-handler/src/server.ts'], {
      cwd: root,
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('listening on')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before listening`)));
      });
      expect(out).toContain(`listening on 127.0.0.1:${port}`);
      const c = await RawClient.connect({ port });
      try {
        expect((await c.request('set greeting 0 60 5\r\nhello\r\nget greeting\r\n', 'END\r\n')).toString()).toBe(
          'STORED\r\nVALUE greeting 0 5\r\nhello\r\nEND\r\n',
        );
        const stats = (await c.request('stats\r\n', 'END\r\n')).toString();
        expect(stats).toContain('STAT curr_items 1\r\n');
        expect(stats).toContain('STAT get_hits 1\r\n');
      } finally {
        c.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('SIGTERM: closing');
  });
});
