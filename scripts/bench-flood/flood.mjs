#!/usr/bin/env node
// A hostile client for scripts/bench-flood.mjs: CONNS connections to 127.0.0.1:PORT, each attacking in one of four
// ways and reconnecting whenever the server closes it or stops reading from it, until killed.
//
//   pipeline  gets of 100 keys written as fast as the socket takes them, replies never read
//   random    random bytes
//   longline  one endless line with no newline
//   bigbody   sets announcing a 1,000,000-byte value, sent in full, replies never read
//
// usage: node scripts/bench-flood/flood.mjs PORT CONNS [KIND,KIND,...]   (connection i takes kind i mod the list)

import { randomFillSync } from 'node:crypto';
import net from 'node:net';

const [port, conns, kinds = 'pipeline,random,longline,bigbody'] = process.argv.slice(2);
if (!port || !conns) {
  process.stderr.write('usage: node scripts/bench-flood/flood.mjs PORT CONNS [pipeline,random,longline,bigbody]\n');
  process.exit(2);
}
const KINDS = kinds.split(',');

const CHUNK = 64 * 1024;
const gets = Buffer.from(Array.from({ length: 4000 }, (_, i) => `get key:${String(i % 100).padStart(8, '0')}\r\n`).join(''));
const random = Buffer.alloc(CHUNK);
const line = Buffer.alloc(CHUNK, 'a');
const BODY = 1_000_000;
const bigSet = Buffer.concat([Buffer.from(`set flood:big 0 0 ${BODY}\r\n`), Buffer.alloc(BODY, 'b'), Buffer.from('\r\n')]);

/** What connection `kind` writes next. */
function next(kind) {
  switch (kind) {
    case 'pipeline':
      return gets;
    case 'random':
      return randomFillSync(random);
    case 'longline':
      return line;
    default:
      return bigSet;
  }
}

/** A connection that writes while the socket takes it; one that cannot write for 1 s is replaced. */
function attack(kind) {
  const socket = net.connect({ port: Number(port), host: '127.0.0.1' });
  let stuck;
  let ended = false;
  const again = () => {
    if (ended) return;
    ended = true;
    clearTimeout(stuck);
    socket.destroy();
    setTimeout(() => attack(kind), 10);
  };
  const pump = () => {
    clearTimeout(stuck);
    while (!socket.destroyed && socket.write(next(kind)));
    stuck = setTimeout(again, 1000);
  };
  socket.on('connect', pump);
  socket.on('drain', pump);
  socket.on('error', again);
  socket.on('close', again);
  // Replies are never read: the server's output for this connection piles up in its own buffers.
  socket.pause();
}

for (let i = 0; i < Number(conns); i++) attack(KINDS[i % KINDS.length]);
