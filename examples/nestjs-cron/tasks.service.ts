import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { currentLock, DistributedLock } from '../../src/index.js';
import { report } from './report.js';

/**
 * The scheduled task. Every instance's cron fires every second; `@DistributedLock` lets one of
 * them run it and skips it on the others (a skipped call returns `undefined`).
 */
@Injectable()
export class TasksService {
  @Cron(CronExpression.EVERY_SECOND)
  @DistributedLock({ key: 'every-second-task', ttl: 5 }) // ttl in SECONDS; retries 0, onLocked 'skip'
  async everySecond(): Promise<void> {
    const lock = currentLock();
    if (lock === undefined) throw new Error('unreachable: the decorator runs this under a lock');
    // The second this tick belongs to (the cron fires at its start, give or take timer jitter).
    const second = Math.round(Date.now() / 1000);
    report({ event: 'run', second, token: String(lock.fencingToken) });
    // The work: 600 ms, stopped at once if the lock is lost (the signal aborts). A real task hands
    // `lock.fencingToken` to every store it writes to (docs/decorator.md, "Fencing the task's writes").
    await sleep(600, undefined, { signal: lock.signal });
  }
}
