/**
 * A LeaderElection candidate in its own process, for tests that pause and kill candidates. Prints
 * one JSON line per event: {"ev":"started","id"}, {"ev":"leader","term"}, {"ev":"follower","reason"},
 * and with `tickMs`, {"ev":"tick","isLeader","term"} every `tickMs` (what the process believes).
 * It exits by itself after `maxLifeMs` or when stdin closes, so it cannot outlive a failed test.
 * Argument: JSON { urls, prefix, name, options, tickMs?, maxLifeMs }.
 */
import { LeaderElection, type LeaderElectionOptions, Redlock } from '../../src/index.js';

const args = JSON.parse(process.argv[2] ?? '{}') as {
  urls: string[];
  prefix: string;
  name: string;
  options: LeaderElectionOptions;
  tickMs?: number;
  maxLifeMs: number;
};
setTimeout(() => process.exit(3), args.maxLifeMs);
process.stdin.on('close', () => process.exit(4));
process.stdin.resume();

const print = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};
const redlock = new Redlock(args.urls, { prefix: args.prefix });
const election = new LeaderElection(redlock, args.name, args.options);
election.on('leader', (leadership) => print({ ev: 'leader', term: leadership.term }));
election.on('follower', (reason) => print({ ev: 'follower', reason }));
if (args.tickMs !== undefined) setInterval(() => print({ ev: 'tick', isLeader: election.isLeader, term: election.term }), args.tickMs);
await election.start();
print({ ev: 'started', id: election.id });
