import { Redlock } from '../redlock/redlock.js';

export interface AdminOptions {
  readonly urls: readonly string[];
  readonly prefix: string;
  readonly maxTtl: number;
  readonly out?: (line: string) => void;
}

function open(options: AdminOptions): Redlock {
  return new Redlock(options.urls, {
    prefix: options.prefix,
    maxTtl: options.maxTtl,
    automaticExtensionThreshold: Math.min(500, options.maxTtl - 1),
    autoRepair: false,
  });
}

/** Prints each node's ready marker and counter count; resolves with how many nodes are not ready. */
export async function runInspect(options: AdminOptions): Promise<number> {
  const out = options.out ?? ((line: string) => console.log(line));
  await using redlock = open(options);
  const states = await redlock.inspect();
  for (const s of states) {
    const ready = s.ready === undefined ? 'unreachable' : s.ready === null ? 'NOT READY (lost its data: repair it)' : `ready (cluster ${s.ready})`;
    out(`${s.node.padEnd(24)} ${ready}${s.counters === undefined ? '' : `, ${s.counters} counters`}`);
  }
  return states.filter((s) => s.ready !== null && s.ready !== undefined).length >= redlock.quorum ? 0 : 1;
}

/** Repairs node `index` (see docs/operations.md) and prints what it did. */
export async function runRepair(options: AdminOptions & { readonly index: number }): Promise<void> {
  const out = options.out ?? ((line: string) => console.log(line));
  await using redlock = open(options);
  out(`repairing ${redlock.nodes[options.index]?.name ?? options.index}: copying counters from a majority, then waiting out maxTtl (${options.maxTtl} ms)…`);
  const report = await redlock.repair(options.index);
  out(
    report.alreadyReady
      ? `${report.node} was ready already (cluster ${report.clusterId})`
      : `${report.node} repaired: ${report.counters} counters seen, ${report.raised} raised, waited ${report.waitedMs} ms; ready (cluster ${report.clusterId})`,
  );
}
