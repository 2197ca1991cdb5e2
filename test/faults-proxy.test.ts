import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProxy } from '../faults/proxy.js';

/** A server that answers each connection with `n` numbered lines, each its own write, spread over time. */
async function lineServer(n: number): Promise<{ port: number; server: Server }> {
  const server = createServer(async (sock: Socket) => {
    for (let i = 0; i < n && !sock.destroyed; i++) {
      sock.write(`${i}\n`);
      if (i % 20 === 0) await sleep(1);
    }
    sock.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return { port: typeof a === 'object' && a ? a.port : 0, server };
}

it('fault proxy: delayed replies keep their byte order, as TCP does', async () => {
  const n = 3000;
  const { port, server } = await lineServer(n);
  const proxy = await startProxy(port);
  proxy.delay(30);
  try {
    const text = await new Promise<string>((resolve, reject) => {
      const c = connect(proxy.port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => (got += d.toString()));
      c.on('end', () => resolve(got));
      c.on('close', () => resolve(got));
      c.on('error', reject);
    });
    const lines = text.split('\n').filter(Boolean).map(Number);
    assert.equal(lines.length, n, 'every byte arrived');
    const firstOutOfOrder = lines.findIndex((v, i) => v !== i);
    assert.equal(
      firstOutOfOrder,
      -1,
      `out of order at line ${firstOutOfOrder}: ${lines.slice(Math.max(0, firstOutOfOrder - 2), firstOutOfOrder + 3).join(',')}`,
    );
  } finally {
    await proxy.close();
    server.close();
  }
});
