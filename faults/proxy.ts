/**
 * A TCP proxy between the workers and a store server, for the `partition` and `delay`
 * faults. Every client connection gets its own upstream connection.
 *
 * - `partition()` black-holes traffic in both directions: sockets stay open, bytes are
 *   held back (nothing is read from either side, so TCP flow control backs up as on a
 *   lost link); `heal()` lets them flow again, as TCP retransmission would after a
 *   partition that did not outlive the connections.
 * - `delay(maxMs)` delays every chunk of server replies by a random time in [0, maxMs],
 *   keeping each connection's byte order; `delay(0)` ends it.
 * - When either side closes or fails, the other side is closed too (a store restart
 *   drops every client connection, as it would without the proxy).
 * @module
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A running proxy. */
export interface FaultProxy {
  /** Port the workers connect to (127.0.0.1). */
  readonly port: number;
  /** Client connections accepted so far. */
  readonly accepted: number;
  /** Start black-holing traffic. */
  partition(): void;
  /** Stop black-holing. */
  heal(): void;
  /** Delay server replies by up to `maxMs` each (0: no delay). */
  delay(maxMs: number): void;
  /** Close the listener and every connection. */
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
  /**
   * Reply chunks held back by a delay, oldest first, each with its delivery time. One
   * queue and one timer per connection deliver them strictly in order: separate timers
   * per chunk could fire out of order (their expiry is counted from the event loop's
   * cached clock), which TCP never does and which made mysql2 misread replies.
   */
  held: { due: number; data: Buffer }[];
  timer: NodeJS.Timeout | undefined;
}

/** Starts a proxy on a free port that forwards to `127.0.0.1:<targetPort>`. */
export function startProxy(targetPort: number, random: () => number = Math.random): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let partitioned = false;
  let maxDelay = 0;
  let accepted = 0;

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, server: upstream, held: [], timer: undefined };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (partitioned) {
      client.pause();
      upstream.pause();
    }
    const end = () => {
      pairs.delete(pair);
      clearTimeout(pair.timer);
      pair.held.length = 0;
      client.destroy();
      upstream.destroy();
    };
    // The server closing its side ends the client's only after the held replies are
    // delivered (TCP delivers data before the FIN); an error cuts both at once.
    let upstreamDone = false;
    const endIfDrained = () => {
      if (upstreamDone && pair.held.length === 0 && !client.destroyed) client.end();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('end', () => {
      upstreamDone = true;
      endIfDrained();
    });
    upstream.on('close', (hadError: boolean) => {
      if (hadError) return end();
      upstreamDone = true;
      endIfDrained();
    });
    client.on('data', (d: Buffer) => {
      upstream.write(d);
    });
    const pump = () => {
      pair.timer = undefined;
      const now = performance.now();
      while (pair.held.length > 0 && (pair.held[0] as { due: number }).due <= now) {
        const { data } = pair.held.shift() as { data: Buffer };
        if (!client.destroyed) client.write(data);
      }
      const next = pair.held[0];
      if (next) pair.timer = setTimeout(pump, Math.max(1, next.due - now));
      else endIfDrained();
    };
    upstream.on('data', (d: Buffer) => {
      if (maxDelay <= 0 && pair.held.length === 0) {
        client.write(d);
        return;
      }
      const last = pair.held[pair.held.length - 1];
      const due = Math.max(last?.due ?? 0, performance.now() + random() * maxDelay);
      pair.held.push({ due, data: d });
      if (!pair.timer) pair.timer = setTimeout(pump, Math.max(0, due - performance.now()));
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      resolve({
        port,
        get accepted() {
          return accepted;
        },
        partition() {
          partitioned = true;
          for (const p of pairs) {
            p.client.pause();
            p.server.pause();
          }
        },
        heal() {
          partitioned = false;
          for (const p of pairs) {
            p.client.resume();
            p.server.resume();
          }
        },
        delay(ms: number) {
          maxDelay = Math.max(0, ms);
        },
        close() {
          for (const p of pairs) {
            p.client.destroy();
            p.server.destroy();
          }
          pairs.clear();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}
