/**
 * A throwaway PKI for TLS tests, made with `openssl` at run time: a CA, a server certificate for
 * 127.0.0.1/localhost, a client certificate from the same CA, and a client certificate from another
 * CA (which a server trusting only the first must refuse).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** Paths of the PEM files. */
  readonly files: {
    readonly caCert: string;
    readonly serverCert: string;
    readonly serverKey: string;
    readonly clientCert: string;
    readonly clientKey: string;
    readonly otherCaCert: string;
    readonly otherClientCert: string;
    readonly otherClientKey: string;
  };
  /** The same files' bytes. */
  read(name: keyof TestPki['files']): Buffer;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function newKeyAndRequest(dir: string, name: string, subject: string): void {
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ]);
}

function newCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
}

function sign(dir: string, name: string, ca: string, extensions: string): void {
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-pki-'));
  newCa(dir, 'ca');
  newCa(dir, 'other-ca');
  newKeyAndRequest(dir, 'server', '/CN=localhost');
  sign(dir, 'server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  newKeyAndRequest(dir, 'client', '/CN=test client');
  sign(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  newKeyAndRequest(dir, 'other-client', '/CN=intruder');
  sign(dir, 'other-client', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const files = {
    caCert: path.join(dir, 'ca.pem'),
    serverCert: path.join(dir, 'server.pem'),
    serverKey: path.join(dir, 'server.key'),
    clientCert: path.join(dir, 'client.pem'),
    clientKey: path.join(dir, 'client.key'),
    otherCaCert: path.join(dir, 'other-ca.pem'),
    otherClientCert: path.join(dir, 'other-client.pem'),
    otherClientKey: path.join(dir, 'other-client.key'),
  };
  return { dir, files, read: (name) => readFileSync(files[name]) };
}
