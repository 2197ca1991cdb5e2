/**
 * The fenced sink: `node --import tsx faults/sink.ts <recordFile>`.
 *
 * A line-protocol TCP server on 127.0.0.1 (port printed as `port <n>` on stdout). Each
 * request is one JSON line `{"k": key, "tok": token, "w": worker, "s": slot, "p": phase}`;
 * the answer is `1` (accepted) or `0` (rejected). A write is accepted only when its token
 * is ≥ the highest token accepted so far for its key. Every accept and reject is appended
 * to the record file as a JSON line with a `process.hrtime.bigint()` stamp and the
 * highest accepted token before it (`max`).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';

const file = process.argv[2];
if (!file) {
  console.error('usage: sink.ts <recordFile>');
  process.exit(2);
}
writeFileSync(file, '');
const highest = new Map<string, number>();

const server = createServer((sock) => {
  sock.setNoDelay(true);
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    let out = '';
    let rec = '';
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let req: { k: string; tok: number; w: string; s: string; p: string };
      try {
        req = JSON.parse(line) as typeof req;
      } catch {
        out += '0\n';
        continue;
      }
      const max = highest.get(req.k);
      const ok = typeof req.tok === 'number' && (max === undefined || req.tok >= max);
      if (ok) highest.set(req.k, req.tok);
      rec += `${JSON.stringify({ t: String(process.hrtime.bigint()), k: req.k, tok: req.tok, w: req.w, s: req.s, p: req.p, ok, max: max ?? null })}\n`;
      out += ok ? '1\n' : '0\n';
    }
    if (rec) appendFileSync(file, rec);
    if (out) sock.write(out);
  });
  sock.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  console.log(`port ${typeof a === 'object' && a ? a.port : 0}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
