#!/usr/bin/env node
// The floor for a proxy on one Node thread, for benchmarks only: a bare text proxy over N memcached that knows
// just what the load generator (tools/mcblast) sends (text `get <key>` and `set`), hashes the key to a
// backend, batches one turn's requests per backend, matches replies in order and writes each to its client at
// once. No multi-key gets, no validation, no failures, no stats: a yardstick for cleave-twemproxy's CPU per
// request, not a proxy.
// usage: node scripts/bare-proxy.mjs BACKEND_PORT[,BACKEND_PORT...] LISTEN_PORT
import net from 'node:net';

const ports = process.argv[2].split(',').map(Number);
const listenPort = Number(process.argv[3]);
const LF = 0x0a;
const GET = 1;
const SET = 2;
const EMPTY = Buffer.alloc(0);

function fnv1a(buf, start, end) {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193) >>> 0;
  return h;
}

/** The byte count at the end of a line `... <bytes>\r\n` ending at `nl`. */
function lastNumber(buf, nl) {
  let sp = nl - 2;
  while (buf[sp] !== 0x20) sp--;
  return Number(buf.latin1Slice(sp + 1, nl - 1));
}

class Backend {
  constructor(port) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.out = [];
    /** Pairs: the client a reply goes to, and the kind of request it answers. */
    this.waiting = [];
    this.rest = EMPTY;
    this.scheduled = false;
    this.socket.on('data', (d) => this.onData(d));
  }

  send(bytes, client, kind) {
    this.out.push(bytes);
    this.waiting.push(client, kind);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const out = this.out;
      this.out = [];
      this.socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    });
  }

  onData(chunk) {
    const buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    const waiting = this.waiting;
    let pos = 0;
    let head = 0;
    while (head < waiting.length) {
      const nl = buf.indexOf(LF, pos);
      if (nl < 0) break;
      let end = nl + 1;
      // A hit: VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n; a miss and a set's reply are one line.
      if (waiting[head + 1] === GET && buf[pos] === 0x56) {
        end = nl + 1 + lastNumber(buf, nl) + 2 + 5;
        if (end > buf.length) break;
      }
      waiting[head].write(buf.subarray(pos, end));
      head += 2;
      pos = end;
    }
    if (head > 0) this.waiting = waiting.slice(head);
    this.rest = pos < buf.length ? buf.subarray(pos) : EMPTY;
  }
}

const backends = ports.map((p) => new Backend(p));

net
  .createServer({ noDelay: true }, (client) => {
    let rest = EMPTY;
    client.on('data', (chunk) => {
      const buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      let pos = 0;
      for (;;) {
        const nl = buf.indexOf(LF, pos);
        if (nl < 0) break;
        const kind = buf[pos] === 0x67 ? GET : SET;
        const keyStart = pos + 4;
        let keyEnd = keyStart;
        while (buf[keyEnd] !== 0x20 && buf[keyEnd] !== 0x0d) keyEnd++;
        let end = nl + 1;
        if (kind === SET) {
          end = nl + 1 + lastNumber(buf, nl) + 2;
          if (end > buf.length) break;
        }
        backends[fnv1a(buf, keyStart, keyEnd) % backends.length].send(buf.subarray(pos, end), client, kind);
        pos = end;
      }
      rest = pos < buf.length ? buf.subarray(pos) : EMPTY;
    });
    client.on('error', () => {});
  })
  .listen(listenPort, '127.0.0.1');

process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
