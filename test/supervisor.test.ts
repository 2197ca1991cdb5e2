import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { startRedisServer } from './helpers/redis-server.js';
import { SupervisedServer } from './helpers/supervisor.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/supervised-redis.ts', import.meta.url));

/** True while `pid` is a live process (a zombie waiting for a reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

/** Starts the fixture (a process that starts a redis-server), returns it and the server's pid. */
async function parentWithServer(): Promise<{ parent: ReturnType<typeof spawn>; serverPid: number }> {
  const parent = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  parent.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const serverPid = await new Promise<number>((resolve, reject) => {
    parent.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /^(\{.*\})\n/.exec(out);
      if (line) resolve((JSON.parse(line[1] as string) as { pid: number }).pid);
    });
    parent.once('exit', (code) => reject(new Error(`fixture exited (${code}): ${err}`)));
  });
  assert.ok(alive(serverPid), 'the server runs while its parent does');
  return { parent, serverPid };
}

for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  it(`a server started through the supervisor dies with its parent (${signal})`, async () => {
    const { parent, serverPid } = await parentWithServer();
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    parent.kill(signal);
    await exited;
    assert.ok(await goneWithin(serverPid, 5000), `redis-server ${serverPid} outlived its parent (${signal})`);
  });
}

it('restart keeps the port; pause stops answers until resume; a failed start reports the log', async () => {
  const server = await startRedisServer();
  try {
    // A live server answers well within 3 s even on a loaded machine; a paused one is given 500 ms.
    const ping = (waitMs = 3000) =>
      new Promise<boolean>((resolve) => {
        const socket = connect(server.port, '127.0.0.1');
        const finish = (answered: boolean) => {
          clearTimeout(timer);
          socket.destroy();
          resolve(answered);
        };
        const timer = setTimeout(() => finish(false), waitMs);
        socket.once('data', () => finish(true));
        socket.once('error', () => finish(false));
        socket.write('PING\r\n');
      });
    assert.equal(await ping(), true);
    const before = server.pid;
    await server.restart(true);
    assert.notEqual(server.pid, before);
    assert.equal(await ping(), true, 'answers on the same port after a restart');
    await server.pause();
    assert.equal(await ping(500), false, 'a paused server does not answer');
    await server.resume();
    assert.equal(await ping(), true);
  } finally {
    await server.stop();
  }
  const broken = new SupervisedServer({
    name: 'broken',
    command: 'sh',
    args: () => ['-c', 'echo "bad configuration line 3"; exit 3'],
    ready: () => false,
  });
  await assert.rejects(broken.start(), /broken exited early \(3\):\nbad configuration line 3/);
  assert.equal(broken.running, false);
  const missing = new SupervisedServer({
    name: 'missing',
    command: 'leasehold-no-such-server',
    args: () => [],
    ready: () => true,
  });
  await assert.rejects(missing.start(), /missing could not start: spawn leasehold-no-such-server ENOENT/);
  assert.equal(missing.running, false);
});
