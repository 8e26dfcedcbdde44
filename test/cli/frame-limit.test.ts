// The CLI refuses a request bigger than a node's control socket accepts
// (cli/client.ts REQUEST_FRAME_LIMIT). The node uses LocalApiServer's default
// limit, which runtime/net/local-api.ts does not export: this test holds the
// two equal — a server with the defaults takes a frame of exactly the limit
// and drops one a byte longer.
import test from 'ava';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalApiServer, LocalClient } from '../../runtime/net/local-api.ts';
import { checkRequestSize, REQUEST_FRAME_LIMIT, requestFrameBytes } from '../../cli/client.ts';
import { UsageError } from '../../cli/errors.ts';

test('a node takes a request frame of exactly REQUEST_FRAME_LIMIT bytes and not one more', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'acp-frame-'));
  const apiKey = crypto.randomBytes(32).toString('hex');
  const server = new LocalApiServer({ dir: join(dir, 'sock'), apiKey, handlers: { cdb: (p) => ({ ok: true, got: (p as { pad: string }).pad.length }) } });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // The frame node-ipc writes: {"type":"req","data":{"id":…,"key":…,"method":…,"params":…}}; the first call has id 1.
  const frame = (pad: string) => Buffer.byteLength(JSON.stringify({ type: 'req', data: { id: 1, key: apiKey, method: 'cdb', params: { pad } } }));
  const fill = REQUEST_FRAME_LIMIT - frame('');
  const call = async (pad: string): Promise<unknown> => {
    const c = await LocalClient.connect(join(dir, 'sock'), { apiKey, timeoutMs: 10_000 });
    try {
      return await c.call('cdb', { pad });
    } finally {
      c.close();
    }
  };
  const atLimit = 'x'.repeat(fill);
  t.is(frame(atLimit), REQUEST_FRAME_LIMIT);
  t.deepEqual(await call(atLimit), { ok: true, got: fill });
  await t.throwsAsync(() => call(atLimit + 'x'));
  // The client's own estimate is an upper bound (it assumes the longest request id) and refuses in time.
  t.true(requestFrameBytes(apiKey, 'cdb', { pad: atLimit }) >= REQUEST_FRAME_LIMIT);
  t.throws(() => checkRequestSize(apiKey, 'cdb', { pad: atLimit + 'x' }, 'the object'), { instanceOf: UsageError, message: /^the object is too large: \d+ bytes \(1\.00 MiB\) encoded, over the control socket's frame limit of 1048576 bytes/ });
  t.notThrows(() => checkRequestSize(apiKey, 'cdb', { pad: 'x'.repeat(fill - 20) }));
});
