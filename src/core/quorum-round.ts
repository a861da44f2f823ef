import type { Clock } from '../clock.js';
import type { NodeOutcome, NodeReport } from '../errors.js';
import type { Done, LockNode } from './lock-node.js';

/** One node's classified answer. `value` is set for `ok` answers that carry one. */
export interface Reply<T> {
  readonly outcome: NodeOutcome;
  readonly value?: T;
  readonly error?: string;
}

export interface Round<T> {
  /** Indexed like the round's targets; `undefined` while a node has not answered. */
  readonly replies: (Reply<T> | undefined)[];
  /** Resolves with true as soon as `needed` nodes answered ok, false once that became impossible. */
  readonly decided: Promise<boolean>;
  /** Resolves when every target answered or the timeout passed (unanswered ones are `timeout`). */
  readonly done: Promise<void>;
}

/** Maps a node's error to an outcome: NOTREADY is the ready gate, anything else an error. */
function errorReply<T>(error: unknown): Reply<T> {
  const message = error instanceof Error ? error.message : String(error);
  return /^(ERR )?NOTREADY/.test(message) ? { outcome: 'notReady', error: message } : { outcome: 'error', error: message };
}

/**
 * Sends one request to each target node in parallel, each bounded by `timeoutMs`, and decides as
 * soon as `needed` answered ok or so many failed that `needed` cannot be reached. Replies that come
 * after the decision are still recorded (until the timeout), so reports are complete once `done`.
 * The one place where redfence talks to a quorum.
 */
export function quorumRound<T, R = unknown>(
  targets: readonly LockNode[],
  needed: number,
  timeoutMs: number,
  clock: Clock,
  send: (node: LockNode, index: number, done: Done<R>) => void,
  classify: (reply: R) => Reply<T>,
): Round<T> {
  const replies: (Reply<T> | undefined)[] = new Array<Reply<T> | undefined>(targets.length).fill(undefined);
  let ok = 0;
  let failed = 0;
  let answered = 0;
  let decide!: (granted: boolean) => void;
  let finish!: () => void;
  const decided = new Promise<boolean>((resolve) => (decide = resolve));
  const done = new Promise<void>((resolve) => (finish = resolve));
  const sentAt = clock.now();

  const record = (index: number, reply: Reply<T>): void => {
    if (replies[index] !== undefined) return;
    replies[index] = reply;
    answered += 1;
    if (reply.outcome === 'ok') ok += 1;
    else failed += 1;
    if (ok === needed) decide(true);
    else if (targets.length - failed < needed) decide(false);
    if (answered === targets.length) {
      clock.clearTimeout(timer);
      finish();
    }
  };

  const timer = clock.setTimeout(() => {
    for (const [index, node] of targets.entries()) {
      if (replies[index] !== undefined) continue;
      node.timedOut(sentAt);
      record(index, { outcome: 'timeout', error: `no reply within ${timeoutMs} ms` });
    }
  }, timeoutMs);

  if (needed <= 0) decide(true);
  // More needed than there are targets: impossible from the start (it would never settle).
  else if (needed > targets.length) decide(false);
  for (let index = 0; index < targets.length; index += 1) {
    const node = targets[index] as LockNode;
    try {
      send(node, index, (error, reply) => record(index, error === undefined ? classify(reply as R) : errorReply(error)));
    } catch (error) {
      record(index, errorReply(error));
    }
  }
  if (targets.length === 0) {
    clock.clearTimeout(timer);
    finish();
  }
  return { replies, decided, done };
}

/** The round's outcome per node as plain data, for errors (`timeout` for nodes that never answered). */
export function reportsOf<T>(targets: readonly LockNode[], replies: readonly (Reply<T> | undefined)[]): NodeReport[] {
  return targets.map((node, i) => {
    const reply = replies[i] ?? { outcome: 'timeout' as const, error: 'no reply' };
    return reply.error === undefined
      ? { node: node.name, outcome: reply.outcome }
      : { node: node.name, outcome: reply.outcome, error: reply.error };
  });
}
