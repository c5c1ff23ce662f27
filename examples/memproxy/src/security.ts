import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { parseAuthFile, type AuthOptions, type TlsOptions } from '@cleave/server';
import { ConfigError, fileNamed, readFileFor, type Config } from './config.js';

/** What the security flags turn into: TLS for the TLS listener, and the users who may log in. */
export interface Security {
  tls?: TlsOptions;
  auth?: AuthOptions;
  /** How many users the auth file holds (for the startup line). */
  users?: number;
}

/** CA certificates, each parsed: a TLS context takes a file without any and then refuses every client. */
function readCa(label: string, file: string): Buffer {
  const pem = readFileFor(label, file);
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const allowed = 'give the CA certificate(s) that sign the client certificates, in PEM';
  if (blocks.length === 0) throw new ConfigError(`${fileNamed(label, file)}: holds no PEM certificate; ${allowed}`);
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (e) {
      throw new ConfigError(`${fileNamed(label, file)}: certificate ${i + 1} cannot be read (${(e as Error).message}); ${allowed}`);
    }
  });
  return pem;
}

/**
 * Read the files the security flags name, at startup: certificates and key
 * (checked to be PEM and to belong together) and the auth file. Any problem
 * is a ConfigError naming the flag and file; an auth file's passwords never
 * appear in it.
 */
export function loadSecurity(config: Config): Security {
  const out: Security = {};
  const label = (name: string) => config.labels[name] ?? `--${name}`;
  if (config.tlsPort !== undefined && config.tlsCert !== undefined && config.tlsKey !== undefined) {
    const tls: TlsOptions = { cert: readFileFor(label('tls-cert'), config.tlsCert), key: readFileFor(label('tls-key'), config.tlsKey) };
    if (config.tlsCa !== undefined) tls.ca = readCa(label('tls-ca'), config.tlsCa);
    try {
      createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.ca && { ca: tls.ca }) });
    } catch (e) {
      throw new ConfigError(
        `--tls-cert/--tls-key${tls.ca ? '/--tls-ca' : ''}: not usable PEM (${(e as Error).message}): ` +
          `give a PEM certificate, the private key that belongs to it${tls.ca ? ' and PEM CA certificates' : ''}`,
      );
    }
    out.tls = tls;
  }
  if (config.authFile !== undefined) {
    const text = readFileFor(label('auth-file'), config.authFile);
    try {
      const users = parseAuthFile(text);
      out.auth = { users };
      out.users = users.size;
    } catch (e) {
      throw new ConfigError(`${fileNamed(label('auth-file'), config.authFile)}: ${(e as Error).message}`);
    }
  }
  return out;
}
