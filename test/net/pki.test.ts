import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  PkiError,
  initCluster,
  issueClientCert,
  issueNodeCert,
  loadApiKey,
  loadClientCredentials,
  loadNodeCredentials,
} from '../../runtime/net/pki.ts';
import { tempDir } from './helpers.ts';

const mode = (f: string) => fs.statSync(f).mode & 0o777;

test('initCluster: CA and node certificates verify with node crypto; keys are 0600', async (t) => {
  const dir = tempDir(t);
  const out = await initCluster(dir, { nodes: ['a', 'b', 'c'], hosts: { b: ['10.1.2.3', 'b.example.org'] } });
  const ca = new crypto.X509Certificate(fs.readFileSync(out.caCert));
  t.true(ca.ca);
  t.true(ca.verify(ca.publicKey), 'CA is self-signed');
  t.is(mode(out.caKey), 0o600);
  t.is(mode(out.apiKey), 0o600);
  t.is(mode(dir) & 0o077, 0);
  for (const n of ['a', 'b', 'c']) {
    const cert = new crypto.X509Certificate(fs.readFileSync(out.nodes[n]!.cert));
    t.true(cert.checkIssued(ca), `${n} issued by CA`);
    t.true(cert.verify(ca.publicKey), `${n} signed by CA key`);
    t.false(cert.ca);
    t.regex(cert.subject, new RegExp(`^CN=${n}$`, 'm'));
    t.regex(cert.subject, /^OU=node$/m);
    t.true(cert.checkIP('127.0.0.1') !== undefined);
    t.is(cert.checkHost('localhost'), 'localhost');
    t.deepEqual(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    t.is(mode(out.nodes[n]!.key), 0o600, `${n}.key is 0600`);
    const key = crypto.createPrivateKey(fs.readFileSync(out.nodes[n]!.key));
    t.is(key.asymmetricKeyType, 'ec');
    t.true(cert.checkPrivateKey(key));
  }
  const b = new crypto.X509Certificate(fs.readFileSync(out.nodes.b!.cert));
  t.is(b.checkIP('10.1.2.3'), '10.1.2.3');
  t.is(b.checkHost('b.example.org'), 'b.example.org');
  const a = new crypto.X509Certificate(fs.readFileSync(out.nodes.a!.cert));
  t.is(a.checkIP('10.1.2.3'), undefined, 'hosts are per node');

  const cli = new crypto.X509Certificate(fs.readFileSync(out.clients.cli!.cert));
  t.true(cli.checkIssued(ca) && cli.verify(ca.publicKey));
  t.regex(cli.subject, /^OU=client$/m);
  t.deepEqual(cli.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  t.is(mode(out.clients.cli!.key), 0o600);

  const key = loadApiKey(dir);
  t.regex(key, /^[0-9a-f]{64}$/);
});

test('loadNodeCredentials returns checked PEMs; issueNodeCert adds nodes', async (t) => {
  const dir = tempDir(t);
  await initCluster(dir, { nodes: ['a'] });
  const c = loadNodeCredentials(dir, 'a');
  t.is(c.name, 'a');
  t.true(c.key.includes('PRIVATE KEY'));
  t.true(c.cert.includes('BEGIN CERTIFICATE'));
  t.true(c.validTo.getTime() > Date.now());
  await issueNodeCert(dir, 'd', ['192.168.7.7']);
  const d = loadNodeCredentials(dir, 'd');
  const x = new crypto.X509Certificate(d.cert);
  t.is(x.checkIP('192.168.7.7'), '192.168.7.7');
  t.is(mode(path.join(dir, 'nodes', 'd.key')), 0o600);
  await issueClientCert(dir, 'ops');
  t.is(loadClientCredentials(dir, 'ops').name, 'ops');
  // a client certificate is not a node certificate
  fs.copyFileSync(path.join(dir, 'clients', 'ops.crt'), path.join(dir, 'nodes', 'ops.crt'));
  fs.copyFileSync(path.join(dir, 'clients', 'ops.key'), path.join(dir, 'nodes', 'ops.key'));
  t.throws(() => loadNodeCredentials(dir, 'ops'), { message: /not a node certificate/ });
});

test('clear errors for missing, unreadable, garbled, loose, foreign files', async (t) => {
  const dir = tempDir(t);
  await initCluster(dir, { nodes: ['a', 'b'] });
  t.throws(() => loadNodeCredentials(dir, 'zz'), { instanceOf: PkiError, message: /missing node certificate: .*zz\.crt does not exist/ });
  t.throws(() => loadNodeCredentials(path.join(dir, 'nope'), 'a'), { message: /missing CA certificate/ });

  fs.writeFileSync(path.join(dir, 'nodes', 'b.crt'), 'hello, I am not a certificate\n');
  t.throws(() => loadNodeCredentials(dir, 'b'), { message: /garbled node certificate .*no PEM CERTIFICATE block/ });
  fs.writeFileSync(path.join(dir, 'nodes', 'b.crt'), '-----BEGIN CERTIFICATE-----\nAAAAbroken\n-----END CERTIFICATE-----\n');
  t.throws(() => loadNodeCredentials(dir, 'b'), { message: /garbled node certificate/ });

  fs.chmodSync(path.join(dir, 'nodes', 'a.key'), 0o644);
  t.throws(() => loadNodeCredentials(dir, 'a'), { message: /mode 0644; it must be readable by its owner only/ });
  fs.chmodSync(path.join(dir, 'nodes', 'a.key'), 0o600);
  fs.writeFileSync(path.join(dir, 'nodes', 'a.key'), 'garbage', { mode: 0o600 });
  t.throws(() => loadNodeCredentials(dir, 'a'), { message: /garbled node private key/ });

  if (process.getuid?.() !== 0) {
    // root reads anything; only meaningful for an ordinary user
    fs.chmodSync(path.join(dir, 'api.key'), 0o000);
    t.throws(() => loadApiKey(dir), { message: /permission denied/ });
  }
  fs.chmodSync(path.join(dir, 'api.key'), 0o600);
  fs.writeFileSync(path.join(dir, 'api.key'), 'xyz\n');
  t.throws(() => loadApiKey(dir), { message: /garbled API key/ });

  // A certificate from another cluster's CA is refused.
  const other = tempDir(t);
  await initCluster(other, { nodes: ['c'] });
  fs.copyFileSync(path.join(other, 'nodes', 'c.crt'), path.join(dir, 'nodes', 'c.crt'));
  fs.copyFileSync(path.join(other, 'nodes', 'c.key'), path.join(dir, 'nodes', 'c.key'));
  t.throws(() => loadNodeCredentials(dir, 'c'), { message: /not issued by the cluster CA/ });

  await t.throwsAsync(initCluster(dir, { nodes: ['x'] }), { message: /already exists/ });
  await t.throwsAsync(initCluster(tempDir(t), { nodes: ['../evil'] }), { message: /invalid node name/ });
  await t.throwsAsync(issueNodeCert(dir, 'e', ['not a host!']), { message: /invalid host/ });
});
