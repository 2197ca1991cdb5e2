import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { it } from 'node:test';

// A consumer project inside the repo (so the package's own dependencies resolve from the
// repo's node_modules), with the packed tarball unpacked as node_modules/leasehold.
it('the packed package imports from another project, with types, through its exports map', () => {
  const root = resolve('.');
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(root, '.tmp', 'consumer-'));
  try {
    // `npm test` builds dist/ before running the tests.
    const out = execFileSync('npm', ['pack', '--pack-destination', dir, '--json'], { encoding: 'utf8' });
    const [{ filename, files }] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
    assert.ok(files.some((f) => f.path === 'dist/cli/main.js'), 'the bin is packed');
    assert.ok(!files.some((f) => f.path.startsWith('src/') || f.path.startsWith('test/')), 'only dist and docs are packed');
    const pkgDir = join(dir, 'node_modules', 'leasehold');
    mkdirSync(pkgDir, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, filename), '-C', pkgDir, '--strip-components=1']);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', lib: ['ES2022', 'ESNext.Disposable'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')], noEmit: true, skipLibCheck: false } }),
    );
    const code = `import { Leasehold, openStore, ConfigError, type Lease } from 'leasehold';
import { FileStore } from 'leasehold/file';
import { MemoryStore } from 'leasehold/memory';
import { runConformance, FakeClock } from 'leasehold/testing';
const lh = new Leasehold({ store: new FileStore({ dir: '.leases' }) });
const lease: Lease | null = await lh.tryAcquire('k', { ttl: '5s' });
let config = false;
try { await openStore('nope:'); } catch (e) { config = e instanceof ConfigError; }
console.log(JSON.stringify({ token: lease?.token, memory: new MemoryStore().name, opened: (await openStore('memory:')).name, suite: typeof runConformance, clock: typeof FakeClock, config }));
await lease?.release();
`;
    writeFileSync(join(dir, 'index.ts'), code);
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { stdio: 'pipe' });
    writeFileSync(join(dir, 'index.mjs'), code.replace(', type Lease', '').replace(': Lease | null', ''));
    const run = execFileSync(process.execPath, ['index.mjs'], { cwd: dir, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(run), { token: 1, memory: 'memory', opened: 'memory', suite: 'function', clock: 'function', config: true });
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    for (const sub of ['.', './memory', './file', './testing', './redis', './postgres', './mysql', './azure-blob']) assert.ok(pkg.exports[sub], `exports ${sub}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
