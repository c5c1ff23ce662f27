import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from '../src/address.js';

describe('parseAddress', () => {
  it('reads host:port', () => {
    expect(parseAddress('127.0.0.1:11211')).toEqual({ host: '127.0.0.1', port: 11211 });
    expect(parseAddress('cache-1.internal:1')).toEqual({ host: 'cache-1.internal', port: 1 });
    expect(parseAddress('localhost:65535')).toEqual({ host: 'localhost', port: 65535 });
  });
  it('reads [v6]:port without the brackets', () => {
    expect(parseAddress('[::1]:11211')).toEqual({ host: '::1', port: 11211 });
    expect(parseAddress('[fe80::1%eth0]:22122')).toEqual({ host: 'fe80::1%eth0', port: 22122 });
  });
  it('takes /path and ./path as unix socket paths, as is', () => {
    expect(parseAddress('/run/memcached/memcached.sock')).toEqual({ path: '/run/memcached/memcached.sock' });
    expect(parseAddress('./mc.sock')).toEqual({ path: './mc.sock' });
  });
  it('refuses anything else with an error naming the value and the allowed forms', () => {
    for (const bad of [
      '',
      'localhost',
      '11211',
      ':11211',
      'host:',
      'host:0',
      'host:65536',
      'host:123456',
      '::1:11211',
      '[::1]',
      '[]:1',
      'a b:1',
      ' host:1',
      'mc.sock',
      'host:port',
    ]) {
      expect(() => parseAddress(bad), bad).toThrow(TypeError);
      expect(() => parseAddress(bad), bad).toThrow(`${JSON.stringify(bad)} is not an address: give "host:port", "[ipv6]:port"`);
    }
    expect(() => parseAddress('nowhere', '--l2-addr')).toThrow(
      /^--l2-addr "nowhere" is not an address: .*unix socket path starting with "\/" or "\.\/"$/,
    );
  });
});

describe('formatAddress', () => {
  it('writes what parseAddress reads back', () => {
    for (const text of ['127.0.0.1:11211', '[::1]:11211', 'cache:1', '/tmp/mc.sock', './mc.sock']) {
      expect(formatAddress(parseAddress(text))).toBe(text);
    }
  });
});
