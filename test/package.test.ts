import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { it } from 'node:test';

// A consumer project inside the repo (so the package's own dependencies resolve from the
// repo's node_modules), with the packed tarball unpacked as node_modules/leasehold.
it('the packed package imports from another project, with types, through its exports map', () => {
  const root = resolve('.');
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(root, '.tmp', 'consumer-'));
  try {
    // `npm test` builds dist/ before running the tests; packing does not build it again
    // (`prepare` would empty dist/ while other test files run).
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], {
      encoding: 'utf8',
    });
    const [{ filename, files }] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
    assert.ok(
      files.some((f) => f.path === 'dist/cli/main.js'),
      'the bin is packed',
    );
    assert.ok(
      !files.some((f) => f.path.startsWith('src/') || f.path.startsWith('test/')),
      'only dist and docs are packed',
    );
    const pkgDir = join(dir, 'node_modules', 'leasehold');
    mkdirSync(pkgDir, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, filename), '-C', pkgDir, '--strip-components=1']);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022', 'ESNext.Disposable'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
          noEmit: true,
          skipLibCheck: false,
        },
      }),
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
    assert.deepEqual(JSON.parse(run), {
      token: 1,
      memory: 'memory',
      opened: 'memory',
      suite: 'function',
      clock: 'function',
      config: true,
    });
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    // The published types carry no internal names: no @internal tag, no underscore member.
    const declarations = readdirSync(join(pkgDir, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.d.ts'),
    );
    assert.ok(declarations.length > 50, `${declarations.length} declaration files`);
    for (const file of declarations) {
      const text = readFileSync(join(pkgDir, 'dist', file), 'utf8');
      assert.doesNotMatch(text, /@internal/, `${file} has an @internal name`);
      assert.doesNotMatch(
        text,
        /^\s*(?:readonly\s+|static\s+)*_[A-Za-z]\w*\s*[(:?<]/m,
        `${file} has an underscore member`,
      );
    }
    for (const sub of ['.', './memory', './file', './testing', './redis', './postgres', './mysql', './azure-blob'])
      assert.ok(pkg.exports[sub], `exports ${sub}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The store registry is the one list of stores: package.json must export each one at its
// name, with its SDK an optional peer, and each must have its docs page.
it('package.json exports, peers and docs agree with the store registry', async () => {
  const { STORES } = await import('../src/stores/registry.js');
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    exports: Record<string, { types: string; import: string } | string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
  };
  const storeExports = Object.keys(pkg.exports).filter(
    (k) =>
      !['.', './testing', './store-kit', './nestjs', './node-cron', './fence', './ui', './package.json'].includes(k),
  );
  assert.deepEqual(storeExports.sort(), STORES.map((s) => `./${s.name}`).sort());
  for (const store of STORES) {
    assert.deepEqual(pkg.exports[`./${store.name}`], {
      types: `./dist/stores/${store.name}/index.d.ts`,
      import: `./dist/stores/${store.name}/index.js`,
    });
    assert.ok(readFileSync(`docs/stores/${store.name}.md`, 'utf8').length > 0, `docs/stores/${store.name}.md`);
    if (store.peer) {
      assert.ok(pkg.peerDependencies[store.peer], `${store.peer} is a peer dependency`);
      assert.equal(pkg.peerDependenciesMeta[store.peer]?.optional, true, `${store.peer} is optional`);
    }
  }
});
