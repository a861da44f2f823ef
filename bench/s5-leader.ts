/**
 * S5 election leader, run as a child process by bench/s5-election.ts (never by hand): one
 * LeaderElection (the same redfence build as the parent), started at once; each term it wins is
 * reported as a JSON line on stdout, then it leads until it is SIGKILLed. It exits by itself when
 * its parent goes away (stdin closes) or after `maxLifeMs`, so it can never outlive a failed run.
 * Argument: JSON { urls, prefix, name, ttl, renewInterval, keepAlive?, maxLifeMs }.
 */
import { say, startChild } from './bench-child.js';
import { loadRedfence, REDFENCE_MODULE_ENV } from './redfence-build.js';

interface LeaderArgs {
  readonly urls: string[];
  readonly prefix: string;
  readonly name: string;
  readonly ttl: number;
  readonly renewInterval: number;
  readonly keepAlive?: number;
  readonly maxLifeMs: number;
}

const args = startChild<LeaderArgs>();

try {
  const { LeaderElection, Redlock } = await loadRedfence(process.env[REDFENCE_MODULE_ENV]);
  const redlock = new Redlock(args.urls, { prefix: args.prefix });
  const election = new LeaderElection(redlock, args.name, {
    ttl: args.ttl,
    renewInterval: args.renewInterval,
    ...(args.keepAlive === undefined ? {} : { keepAlive: args.keepAlive }),
  });
  election.on('leader', (leadership) => say({ type: 'leader', term: String(leadership.term), id: leadership.id }));
  election.on('follower', (reason) => say({ type: 'follower', reason }));
  await election.start();
  say({ type: 'ready' });
} catch (error) {
  say({ type: 'error', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  process.exit(2);
}
