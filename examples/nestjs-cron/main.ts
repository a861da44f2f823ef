/**
 * One instance of the example app: NestJS with @nestjs/schedule, a cron every second under
 * `@DistributedLock`. Run two or more of them on the same nodes; start.ts does, on a local cluster.
 *
 *   INSTANCE=a REDFENCE_NODES=redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003 \
 *     TSX_TSCONFIG_PATH=tsconfig.legacy.json node --import tsx examples/nestjs-cron/main.ts
 *
 * NestJS compiles with legacy decorators: tsx reads them from tsconfig.legacy.json
 * (`experimentalDecorators`). It exits on SIGTERM/SIGINT (closing the app: crons stop, the Redlock
 * quits) and when its standard input closes (the process that started it is gone).
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DistributedLock } from '../../src/index.js';
import { AppModule } from './app.module.js';
import { report } from './report.js';

const nodes = (process.env.REDFENCE_NODES ?? '').split(',').filter((url) => url.length > 0);
if (nodes.length === 0) {
  process.stderr.write('Set REDFENCE_NODES to the Redis URLs, comma-separated (examples/nestjs-cron/start.ts starts a local cluster and two instances)\n');
  process.exit(2);
}

DistributedLock.events.on('skipped', ({ reason }) => report({ event: 'skipped', reason, second: Math.round(Date.now() / 1000) }));
DistributedLock.events.on('memoryFallback', ({ error }) => report({ event: 'memoryFallback', error: error.message }));

const app = await NestFactory.createApplicationContext(AppModule.forRoot(nodes, process.env.REDFENCE_PREFIX ?? 'nestjs-cron:'), { logger: ['error', 'warn'] });
app.enableShutdownHooks();
process.stdin.on('end', () => void app.close().then(() => process.exit(0)));
process.stdin.resume();
report({ event: 'ready', pid: process.pid });
