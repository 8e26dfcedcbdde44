// Cluster PKI: one cluster CA, a certificate per node, client certificates for
// the CLI/API, and the API key. Everything lives as PEM files in one directory:
//
//   DIR/            0700
//     ca.crt        0644   cluster CA certificate (the trust anchor of every link)
//     ca.key        0600   CA private key (only needed to issue certificates)
//     api.key       0600   API key: 32 random bytes, hex
//     nodes/        0700   <name>.crt 0644, <name>.key 0600
//     clients/      0700   <name>.crt 0644, <name>.key 0600
//
// Key type: EC P-256 (ECDSA with SHA-256). Keys are small, generation takes
// a millisecond (RSA-2048 takes ~50-200 ms, which matters for tests and for
// issuing certificates on demand), signatures and TLS 1.3 handshakes are
// cheap, and every OpenSSL build node ships with supports it.
//
// Identity: a node certificate has subject CN=<node name>, OU=node and EKU
// serverAuth+clientAuth; a client certificate has CN=<name>, OU=client and
// EKU clientAuth only. The transport accepts OU=node only, so a CLI
// certificate named like a node cannot impersonate it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs the Reflect metadata API
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(crypto.webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = crypto.webcrypto.CryptoKey;
type CryptoKeyPair = crypto.webcrypto.CryptoKeyPair;

export const NODE_OU = 'node';
export const CLIENT_OU = 'client';

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Node and client names: also used as file names, so kept conservative. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export class PkiError extends Error {
  readonly code: string;
  readonly path: string | undefined;
  constructor(code: string, message: string, file?: string) {
    super(message);
    this.name = 'PkiError';
    this.code = code;
    this.path = file;
  }
}

export interface NodeCredentials {
  /** Node name (the certificate's CN). */
  name: string;
  /** PEM private key of this node. */
  key: string;
  /** PEM certificate of this node. */
  cert: string;
  /** PEM certificate of the cluster CA. */
  ca: string;
  /** SHA-256 fingerprint of the CA certificate (colon hex). */
  caFingerprint: string;
  /** Expiry of the node certificate. */
  validTo: Date;
}

export interface InitClusterOptions {
  nodes: string[];
  /** Extra SAN hosts (IPs or DNS names) per node, e.g. its listen address. */
  hosts?: Record<string, string[]>;
  /** Client certificates to issue for CLI/API use. Default ['cli']. */
  clients?: string[];
  /** Validity of the CA in days. Default 3650. */
  caValidDays?: number;
  /** Validity of node/client certificates in days. Default 825. */
  validDays?: number;
  /** CA common name. Default 'ACP cluster CA'. */
  caName?: string;
}

export interface ClusterPaths {
  dir: string;
  caCert: string;
  caKey: string;
  apiKey: string;
  nodes: Record<string, { cert: string; key: string }>;
  clients: Record<string, { cert: string; key: string }>;
}

export interface IssueOptions {
  validDays?: number;
}

export function assertValidName(name: string, what = 'node name'): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new PkiError('EINVAL', `invalid ${what} ${JSON.stringify(name)}: use 1-63 characters from [A-Za-z0-9._-], starting with a letter or digit`);
  }
}

export function caCertPath(dir: string): string { return path.join(dir, 'ca.crt'); }
export function caKeyPath(dir: string): string { return path.join(dir, 'ca.key'); }
export function apiKeyPath(dir: string): string { return path.join(dir, 'api.key'); }
export function nodeCertPath(dir: string, name: string): string { return path.join(dir, 'nodes', `${name}.crt`); }
export function nodeKeyPath(dir: string, name: string): string { return path.join(dir, 'nodes', `${name}.key`); }
export function clientCertPath(dir: string, name: string): string { return path.join(dir, 'clients', `${name}.crt`); }
export function clientKeyPath(dir: string, name: string): string { return path.join(dir, 'clients', `${name}.key`); }

/**
 * Create a new cluster in `dir`: CA, one certificate per node, client
 * certificates and the API key. Refuses to overwrite an existing CA.
 */
export async function initCluster(dir: string, opts: InitClusterOptions): Promise<ClusterPaths> {
  const nodes = opts.nodes ?? [];
  const clients = opts.clients ?? ['cli'];
  for (const n of nodes) assertValidName(n);
  for (const c of clients) assertValidName(c, 'client name');
  if (new Set(nodes).size !== nodes.length) throw new PkiError('EINVAL', 'duplicate node names');
  for (const hs of Object.values(opts.hosts ?? {})) for (const h of hs) assertValidHost(h);

  ensureDir(dir);
  if (fs.existsSync(caCertPath(dir)) || fs.existsSync(caKeyPath(dir))) {
    throw new PkiError('EEXIST', `a cluster CA already exists in ${dir}; refusing to overwrite it`, caCertPath(dir));
  }

  const keys = await generateKeyPair();
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [opts.caName ?? 'ACP cluster CA'] }, { OU: ['ca'] }],
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (opts.caValidDays ?? 3650) * DAY_MS),
    keys,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writeSecret(caKeyPath(dir), await exportKeyPem(keys.privateKey));
  writePublic(caCertPath(dir), caCert.toString('pem') + '\n');
  writeSecret(apiKeyPath(dir), crypto.randomBytes(32).toString('hex') + '\n');

  const out: ClusterPaths = { dir, caCert: caCertPath(dir), caKey: caKeyPath(dir), apiKey: apiKeyPath(dir), nodes: {}, clients: {} };
  const ca = { cert: caCert, key: keys.privateKey };
  for (const n of nodes) {
    await issue(dir, ca, 'node', n, opts.hosts?.[n] ?? [], opts.validDays);
    out.nodes[n] = { cert: nodeCertPath(dir, n), key: nodeKeyPath(dir, n) };
  }
  for (const c of clients) {
    await issue(dir, ca, 'client', c, [], opts.validDays);
    out.clients[c] = { cert: clientCertPath(dir, c), key: clientKeyPath(dir, c) };
  }
  return out;
}

/**
 * Issue (or re-issue) the certificate of node `name`, valid for `hosts` in
 * addition to localhost/127.0.0.1/::1. Needs ca.key in `dir`.
 */
export async function issueNodeCert(dir: string, name: string, hosts: string[] = [], opts: IssueOptions = {}): Promise<{ cert: string; key: string }> {
  assertValidName(name);
  for (const h of hosts) assertValidHost(h);
  const ca = await loadCa(dir);
  await issue(dir, ca, 'node', name, hosts, opts.validDays);
  return { cert: nodeCertPath(dir, name), key: nodeKeyPath(dir, name) };
}

/** Issue (or re-issue) a client certificate for CLI/API use. Needs ca.key in `dir`. */
export async function issueClientCert(dir: string, name: string, opts: IssueOptions = {}): Promise<{ cert: string; key: string }> {
  assertValidName(name, 'client name');
  const ca = await loadCa(dir);
  await issue(dir, ca, 'client', name, [], opts.validDays);
  return { cert: clientCertPath(dir, name), key: clientKeyPath(dir, name) };
}

/**
 * Load and check the credentials of node `name`: files present, readable,
 * well-formed, key private (0600), key matches certificate, certificate
 * issued by the cluster CA, CN = name, OU = node, currently valid.
 */
export function loadNodeCredentials(dir: string, name: string): NodeCredentials {
  assertValidName(name);
  return loadCreds(dir, name, NODE_OU, nodeCertPath(dir, name), nodeKeyPath(dir, name));
}

/** Same checks as loadNodeCredentials, for a client certificate (OU=client). */
export function loadClientCredentials(dir: string, name: string): NodeCredentials {
  assertValidName(name, 'client name');
  return loadCreds(dir, name, CLIENT_OU, clientCertPath(dir, name), clientKeyPath(dir, name));
}

/** Read the API key (64 hex characters, file must be 0600). */
export function loadApiKey(dir: string): string {
  const file = apiKeyPath(dir);
  checkPrivateMode(file, 'API key');
  const text = readText(file, 'API key').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new PkiError('EGARBLED', `garbled API key in ${file}: expected 64 hex characters`, file);
  return text;
}

// ---------------------------------------------------------------------------

interface CaMaterial { cert: x509.X509Certificate; key: CryptoKey }

async function loadCa(dir: string): Promise<CaMaterial> {
  const certFile = caCertPath(dir);
  const keyFile = caKeyPath(dir);
  const certPem = readText(certFile, 'CA certificate');
  parseCert(certPem, certFile, 'CA certificate');
  checkPrivateMode(keyFile, 'CA private key');
  const keyPem = readText(keyFile, 'CA private key');
  const nodeKey = parseKey(keyPem, keyFile, 'CA private key');
  const der = nodeKey.export({ type: 'pkcs8', format: 'der' });
  let key: CryptoKey;
  try {
    key = await crypto.webcrypto.subtle.importKey('pkcs8', der, EC_ALG, false, ['sign']) as CryptoKey;
  } catch {
    throw new PkiError('EGARBLED', `CA private key in ${keyFile} is not an EC P-256 key`, keyFile);
  }
  const cert = new x509.X509Certificate(certPem);
  const nodeCert = new crypto.X509Certificate(certPem);
  if (!nodeCert.checkPrivateKey(nodeKey)) {
    throw new PkiError('EMISMATCH', `CA private key ${keyFile} does not match CA certificate ${certFile}`, keyFile);
  }
  return { cert, key };
}

async function issue(dir: string, ca: CaMaterial, kind: 'node' | 'client', name: string, hosts: string[], validDays = 825): Promise<void> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const notAfter = new Date(Math.min(now + validDays * DAY_MS, ca.cert.notAfter.getTime()));
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      kind === 'node' ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
  ];
  if (kind === 'node') extensions.push(new x509.SubjectAlternativeNameExtension(sanFor(name, hosts), false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [name] }, { OU: [kind === 'node' ? NODE_OU : CLIENT_OU] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now - 5 * 60_000),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: SIGN_ALG,
    extensions,
  });
  const sub = kind === 'node' ? 'nodes' : 'clients';
  ensureDir(path.join(dir, sub));
  const keyFile = kind === 'node' ? nodeKeyPath(dir, name) : clientKeyPath(dir, name);
  const certFile = kind === 'node' ? nodeCertPath(dir, name) : clientCertPath(dir, name);
  writeSecret(keyFile, await exportKeyPem(keys.privateKey));
  writePublic(certFile, cert.toString('pem') + '\n');
}

function sanFor(name: string, hosts: string[]): x509.JsonGeneralNames {
  const seen = new Set<string>();
  const out: x509.JsonGeneralNames = [];
  const add = (h: string) => {
    const k = h.toLowerCase();
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ type: net.isIP(h) ? 'ip' : 'dns', value: h });
  };
  add('localhost');
  add('127.0.0.1');
  add('::1');
  // The node name as a DNS SAN too, when it is a valid DNS label, so TLS
  // clients may also verify it as a servername.
  if (/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(name)) add(name);
  for (const h of hosts) add(h);
  return out;
}

function assertValidHost(h: string): void {
  if (typeof h !== 'string' || (!net.isIP(h) && !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(h))) {
    throw new PkiError('EINVAL', `invalid host ${JSON.stringify(h)}: expected an IP address or DNS name`);
  }
}

function loadCreds(dir: string, name: string, ou: string, certFile: string, keyFile: string): NodeCredentials {
  const caFile = caCertPath(dir);
  const what = ou === NODE_OU ? 'node' : 'client';
  const caPem = readText(caFile, 'CA certificate');
  const caX = parseCert(caPem, caFile, 'CA certificate');
  const certPem = readText(certFile, `${what} certificate`);
  const certX = parseCert(certPem, certFile, `${what} certificate`);
  checkPrivateMode(keyFile, `${what} private key`);
  const keyPem = readText(keyFile, `${what} private key`);
  const key = parseKey(keyPem, keyFile, `${what} private key`);

  if (!certX.checkPrivateKey(key)) throw new PkiError('EMISMATCH', `private key ${keyFile} does not match certificate ${certFile}`, keyFile);
  if (!certX.checkIssued(caX) || !certX.verify(caX.publicKey)) {
    throw new PkiError('EUNTRUSTED', `certificate ${certFile} was not issued by the cluster CA in ${caFile}`, certFile);
  }
  const subj = parseSubject(certX.subject);
  if (subj.CN !== name) throw new PkiError('EMISMATCH', `certificate ${certFile} is for ${JSON.stringify(subj.CN)}, not ${JSON.stringify(name)}`, certFile);
  if (subj.OU !== ou) throw new PkiError('EMISMATCH', `certificate ${certFile} is not a ${what} certificate (OU=${subj.OU ?? 'none'})`, certFile);
  const validTo = new Date(certX.validTo);
  const now = Date.now();
  if (now > validTo.getTime()) throw new PkiError('EEXPIRED', `certificate ${certFile} expired on ${validTo.toISOString()}`, certFile);
  if (now < new Date(certX.validFrom).getTime()) throw new PkiError('ENOTYETVALID', `certificate ${certFile} is not valid before ${certX.validFrom}`, certFile);
  return { name, key: keyPem, cert: certPem, ca: caPem, caFingerprint: caX.fingerprint256, validTo };
}

/** Parse an OpenSSL one-line-per-attribute subject ("CN=a\nOU=node"). */
export function parseSubject(subject: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of subject.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PkiError('ENOENT', `missing ${what}: ${file} does not exist (create it with initCluster/issueNodeCert)`, file);
    if (code === 'EACCES' || code === 'EPERM') throw new PkiError('EACCES', `cannot read ${what} ${file}: permission denied`, file);
    if (code === 'EISDIR') throw new PkiError('EGARBLED', `${what} ${file} is a directory, not a file`, file);
    throw new PkiError(code ?? 'EIO', `cannot read ${what} ${file}: ${(e as Error).message}`, file);
  }
}

function checkPrivateMode(file: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PkiError('ENOENT', `missing ${what}: ${file} does not exist (create it with initCluster/issueNodeCert)`, file);
    throw new PkiError(code ?? 'EIO', `cannot stat ${what} ${file}: ${(e as Error).message}`, file);
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new PkiError('EPERM', `${what} ${file} has mode 0${(st.mode & 0o777).toString(8)}; it must be readable by its owner only (chmod 600)`, file);
  }
}

function parseCert(pem: string, file: string, what: string): crypto.X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new PkiError('EGARBLED', `garbled ${what} in ${file}: no PEM CERTIFICATE block`, file);
  try {
    return new crypto.X509Certificate(pem);
  } catch (e) {
    throw new PkiError('EGARBLED', `garbled ${what} in ${file}: ${(e as Error).message}`, file);
  }
}

function parseKey(pem: string, file: string, what: string): crypto.KeyObject {
  if (!/-----BEGIN (EC |)PRIVATE KEY-----/.test(pem)) throw new PkiError('EGARBLED', `garbled ${what} in ${file}: no PEM PRIVATE KEY block`, file);
  try {
    return crypto.createPrivateKey(pem);
  } catch (e) {
    throw new PkiError('EGARBLED', `garbled ${what} in ${file}: ${(e as Error).message}`, file);
  }
}

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']) as CryptoKeyPair;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/** Positive 128-bit serial (RFC 5280: at most 20 octets, positive). */
function serial(): string {
  const b = crypto.randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x01;
  return b.toString('hex');
}

function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw new PkiError('ENOTDIR', `${dir} is not a directory`, dir);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

function writeSecret(file: string, text: string): void { writeAtomic(file, text, 0o600); }
function writePublic(file: string, text: string): void { writeAtomic(file, text, 0o644); }

/** Write to a temp file created with the final mode, then rename over. */
function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${crypto.randomBytes(6).toString('hex')}`;
  try {
    fs.writeFileSync(tmp, text, { mode, flag: 'wx' });
    fs.chmodSync(tmp, mode); // in case the umask stripped bits we wanted (0644 under umask 077)
    fs.renameSync(tmp, file);
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
}
