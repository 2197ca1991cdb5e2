/**
 * The README's NestJS quick start, run by test/examples.test.ts. Start it in two
 * terminals: every slot of `refresh` runs in one of them.
 *
 *   LEASEHOLD_STORE=file:.leasehold npx tsx --tsconfig examples/quick-start/nestjs/tsconfig.json \
 *     examples/quick-start/nestjs/app.ts
 *
 * Its tsconfig turns on `experimentalDecorators`, which NestJS needs.
 */
// README: begin
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { JobContext } from '../../../src/index.js';
import { Cron, Every, Exclusive, LeaseholdModule } from '../../../src/nestjs/index.js';

@Injectable()
class Reports {
  @Every('2s') // key "Reports.refresh": each slot runs once across every instance of the app
  async refresh({ slot, token }: JobContext) {
    console.log(`refresh ${slot.toISOString()} on ${process.pid} (token ${token})`);
  }

  @Cron('0 3 * * *', { timezone: 'Europe/Berlin' }) // 03:00 in Berlin, once fleet-wide
  async nightly({ token }: JobContext) {
    console.log(`nightly report, token ${token}`); // pass the token to what the run writes
  }

  @Exclusive('reindex', { ttl: '30s' }) // one call at a time fleet-wide; a call meanwhile is skipped
  async reindex() {
    console.log('reindexing');
  }
}

@Module({
  imports: [LeaseholdModule.forRoot({ url: process.env.LEASEHOLD_STORE ?? 'file:.leasehold' })],
  providers: [Reports],
})
class AppModule {}

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['warn', 'error'] });
app.enableShutdownHooks(); // SIGTERM: jobs stop, every lease is released, then the process exits
// README: end
console.log(`started on ${process.pid}`);
