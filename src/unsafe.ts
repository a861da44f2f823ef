/**
 * Test-only switches that bring back, one by one, behaviours that an adversarial review showed to
 * be unsafe (issue 9). They exist so that the chaos suite's negative controls can prove that their
 * checkers fire when the old behaviour is back. Not exported from the package entry point; never
 * set them outside the chaos suite. Every switch is read at the moment the behaviour happens, so a
 * chaos client process sets them once, before it creates its Redlocks.
 */
export const unsafe = {
  /**
   * Item 1: count a hand-over grant from a node that answered "held" without comparing the grant's
   * token to the counter that answer carried (a stale announcement then counts).
   */
  staleHandOver: false,
  /**
   * Item 2: shorten the repair wait by the node's `uptime_in_seconds`, which FLUSHALL does not
   * reset (a flushed node is then repaired after 0 ms).
   */
  repairWaitByUptime: false,
  /**
   * Item 3: the repair waits out the repairing client's own `maxTtl` instead of the cluster's (the
   * one kept in the ready marker).
   */
  ownMaxTtl: false,
  /** Item 4: repair does not re-check its sources' incarnations after copying from them. */
  repairNoRecheck: false,
  /** Item 5: accept ioredis clients and options with `keyPrefix` (repair then copies nothing). */
  acceptKeyPrefix: false,
};

export type UnsafeSwitch = keyof typeof unsafe;
