// The test suite runs real memcached (and memccapable, memccat), nutcracker
// (twemproxy: the oracle for the router's placement and behaviour), openssl
// (s_client against the TLS listeners) and saslpasswd2 (a SASL user database
// for memcached -S). Install them when missing and we are root; otherwise say
// how and stop.
import { spawnSync } from 'node:child_process';

const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const missing = [];
if (!has('memcached', ['-V'])) missing.push('memcached');
if (!has('sh', ['-c', 'command -v memccapable'])) missing.push('libmemcached-tools');
if (!has('sh', ['-c', 'command -v nutcracker || test -x /usr/sbin/nutcracker'])) missing.push('nutcracker');
if (!has('openssl', ['version'])) missing.push('openssl');
if (!has('sh', ['-c', 'command -v saslpasswd2 || test -x /usr/sbin/saslpasswd2'])) missing.push('sasl2-bin');
if (missing.length === 0) process.exit(0);

const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  console.error(`The tests need ${missing.join(', ')}. Install with:\n  sudo apt-get install -y ${missing.join(' ')}`);
  process.exit(1);
}
console.log(`installing ${missing.join(', ')} with apt-get ...`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [
  ['update', '-q'],
  ['install', '-y', '-q', ...missing],
]) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`apt-get ${args.join(' ')} failed (exit ${r.status}); install ${missing.join(' ')} by hand.`);
    process.exit(1);
  }
}
