/**
 * Reproduction (issue 12, found while writing S17): when the event loop is blocked (a GC pause, a
 * synchronous task, a SIGSTOP) between a campaign's grant and the start of the term for longer
 * than `renewDeadline`, LeaderElection still emits `'leader'` (and `campaign()` resolves) for a
 * term whose deadline has already passed: in the handler `isLeader` is false and `term` is
 * undefined, but `leadership.signal` is not aborted; `'follower'` (`renewDeadline`) follows on the
 * next timer. A handler that trusts the event or the signal acts as leader of a term it has already
 * stepped down from (its fenced actions still carry the newest term, so a fenced store accepts them
 * until someone else is elected).
 *
 *   node --import tsx test/chaos/repro/election-late-leader.ts    # exit code 1 while it shows
 *
 * Fixed in 203e81f: a grant whose validity ran out before the elector ran again begins no term;
 * the elector campaigns on (test/unit/election.test.ts has the regression test).
 *
 * The block is injected in a Redlock `'acquired'` listener (emitted just before acquire resolves).
 * Real redis-servers (startLocalCluster), 127.0.0.1 only.
 */
import { LeaderElection, Redlock, startLocalCluster } from '../../../src/index.js';

const BLOCK_MS = 800; // > renewDeadline (666 ms for ttl 1000), < ttl

function blockOnce(redlock: Redlock): void {
  redlock.once('acquired', () => {
    const end = performance.now() + BLOCK_MS;
    while (performance.now() < end) {
      // the event loop is blocked between the grant and the new term
    }
  });
}

const cluster = await startLocalCluster({ nodes: 3 });
let shows = false;
try {
  // start(): the 'leader' event.
  const r1 = new Redlock(cluster.urls, { prefix: 'repro-late:' });
  blockOnce(r1);
  const e1 = new LeaderElection(r1, 'events', { ttl: 1_000, renewInterval: 300 });
  const seen = new Promise<string>((resolve) => {
    e1.once('leader', (l) => {
      shows ||= !e1.isLeader && !l.signal.aborted;
      resolve(`start(): 'leader' term ${l.term}: isLeader ${e1.isLeader}, term ${e1.term}, leadership.signal.aborted ${l.signal.aborted}`);
    });
  });
  const follower = new Promise<string>((resolve) => e1.once('follower', (reason) => resolve(`then 'follower' (${reason})`)));
  await e1.start();
  console.log(await seen);
  if (shows) console.log(await follower); // fixed: a live term, no step-down to wait for
  await e1.stop();
  await r1.quit();

  // campaign(): resolves with the dead term.
  const r2 = new Redlock(cluster.urls, { prefix: 'repro-late:' });
  blockOnce(r2);
  const e2 = new LeaderElection(r2, 'campaign', { ttl: 1_000, renewInterval: 300 });
  const l2 = await e2.campaign();
  shows ||= !e2.isLeader && !l2.signal.aborted;
  console.log(`campaign() resolved term ${l2.term}: isLeader ${e2.isLeader}, leadership.signal.aborted ${l2.signal.aborted}`);
  await l2.resign();
  await r2.quit();
} finally {
  await cluster.stop();
}
console.log(shows ? 'SHOWS: a term past its renewDeadline was handed out with its signal not aborted' : 'fixed: no dead term was handed out');
process.exitCode = shows ? 1 : 0;
