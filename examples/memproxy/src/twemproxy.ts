#!/usr/bin/env node
// The cleave-twemproxy bin: a drop-in for nutcracker (twemproxy) 0.5.0 in front of memcached pools (src/twemproxy/).
import { main } from './twemproxy/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`cleave-twemproxy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
