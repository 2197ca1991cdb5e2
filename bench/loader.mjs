// Module hooks for `bench/register.mjs`: TypeScript is compiled file by file with TypeScript's
// own transpiler and the project's target, as `npm run build` compiles the published files.
// tsx (what the tests use) wraps every named closure in a `__name(…)` call (esbuild's
// keepNames), which the published JavaScript never pays: about 3.5 µs of CPU per
// acquire + release in leasehold's core, while the libraries it is compared with run as
// plain JavaScript from node_modules.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const COMPILER_OPTIONS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  sourceMap: false,
  inlineSourceMap: true,
  inlineSources: false,
};

/** `./x.js` written in a .ts file names `./x.ts` (NodeNext style imports). */
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !relative || !specifier.endsWith('.js')) throw err;
    return next(`${specifier.slice(0, -3)}.ts`, context);
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts') || url.includes('/node_modules/')) return next(url, context);
  const fileName = fileURLToPath(url);
  const source = await readFile(fileName, 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: COMPILER_OPTIONS, fileName });
  return { format: 'module', source: outputText, shortCircuit: true };
}
