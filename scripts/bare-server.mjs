#!/usr/bin/env node
// The practical ceiling for one Node thread, for benchmarks only: a bare memcached-ish server that knows
// just what the load generator (tools/mcblast) sends (text get/set, binary Get/GetK/Set), keeps a Map, and
// writes once per read. No limits, no validation, no stats: it is a yardstick, not a server.
// usage: node scripts/bare-server.mjs PORT
import net from 'node:net';

const port = Number(process.argv[2]);
const store = new Map();
const END = Buffer.from('END\r\n');
const STORED = Buffer.from('STORED\r\n');

function text(buf, out) {
  let p = 0;
  for (;;) {
    const nl = buf.indexOf(10, p);
    if (nl < 0) return p;
    if (buf[p] === 0x67) {
      // get <key>
      const key = buf.latin1Slice(p + 4, nl - 1);
      const v = store.get(key);
      if (v) out.push(Buffer.from(`VALUE ${key} 0 ${v.length}\r\n`), v, Buffer.from('\r\n'));
      out.push(END);
      p = nl + 1;
    } else {
      // set <key> 0 0 <n>
      const line = buf.latin1Slice(p, nl - 1).split(' ');
      const n = Number(line[4]);
      if (nl + 1 + n + 2 > buf.length) return p;
      store.set(line[1], Buffer.from(buf.subarray(nl + 1, nl + 1 + n)));
      out.push(STORED);
      p = nl + 1 + n + 2;
    }
  }
}

function binary(buf, out) {
  let p = 0;
  while (p + 24 <= buf.length) {
    const body = buf.readUInt32BE(p + 8);
    if (p + 24 + body > buf.length) break;
    const op = buf[p + 1];
    const klen = buf.readUInt16BE(p + 2);
    const elen = buf[p + 4];
    const key = buf.latin1Slice(p + 24 + elen, p + 24 + elen + klen);
    const h = Buffer.alloc(24);
    h[0] = 0x81;
    h[1] = op;
    buf.copy(h, 12, p + 12, p + 16);
    if (op === 0x01) {
      store.set(key, Buffer.from(buf.subarray(p + 24 + elen + klen, p + 24 + body)));
      out.push(h);
    } else {
      const v = store.get(key);
      if (v && op === 0x0c) {
        // GetK: the key comes back
        h[4] = 4;
        h.writeUInt16BE(klen, 2);
        h.writeUInt32BE(4 + klen + v.length, 8);
        out.push(h, Buffer.alloc(4), Buffer.from(key, 'latin1'), v);
      } else if (v) {
        h[4] = 4;
        h.writeUInt32BE(4 + v.length, 8);
        out.push(h, Buffer.alloc(4), v);
      } else {
        h.writeUInt16BE(1, 6);
        out.push(h);
      }
    }
    p += 24 + body;
  }
  return p;
}

net
  .createServer({ noDelay: true }, (s) => {
    let rest = null;
    s.on('data', (d) => {
      const buf = rest ? Buffer.concat([rest, d]) : d;
      const out = [];
      const used = buf[0] === 0x80 ? binary(buf, out) : text(buf, out);
      rest = used < buf.length ? buf.subarray(used) : null;
      if (out.length) s.write(out.length === 1 ? out[0] : Buffer.concat(out));
    });
    s.on('error', () => {});
  })
  .listen(port, '127.0.0.1');
