// `node --import ./bench/register.mjs bench/run.ts`: runs the benchmark's TypeScript compiled
// as the published package is (bench/loader.mjs says why not tsx).
import { register } from 'node:module';

register('./loader.mjs', import.meta.url);
