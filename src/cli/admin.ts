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
  const initialised = states.some((s) => typeof s.ready === 'string');
  if (!initialised) out(`no node has a ready marker under prefix \`${options.prefix}\`: a new cluster, initialised by the first grant that reaches every node (or \`redfence init\`)`);
  for (const s of states) {
    const notReady = initialised ? 'NOT READY (lost its data, or was down at initialisation: repair it)' : 'not initialised';
    const ready = s.ready === undefined ? 'unreachable' : s.ready === null ? notReady : `ready (${describeMarker(s.ready)})`;
    out(`${s.node.padEnd(24)} ${ready}${s.counters === undefined ? '' : `, ${s.counters} counters`}`);
  }
  return states.filter((s) => s.ready !== null && s.ready !== undefined).length >= redlock.quorum ? 0 : 1;
}

/** Initialises a new cluster with the nodes that answer (see docs/operations.md); 0 when done. */
export async function runInit(options: AdminOptions): Promise<number> {
  const out = options.out ?? ((line: string) => console.log(line));
  await using redlock = open(options);
  const report = await redlock.init();
  if (report.alreadyInitialised) {
    out('every node is initialised already; nothing done');
    return 0;
  }
  out(`initialised cluster ${report.clusterId} (max TTL ${options.maxTtl} ms) on ${report.marked.join(', ')}`);
  if (report.unreachable.length > 0) out(`not reachable, repaired when they come: ${report.unreachable.join(', ')}`);
  return 0;
}

function describeMarker(raw: string): string {
  const [clusterId, maxTtl, , nodes] = raw.split(' ');
  return `cluster ${clusterId}, max TTL ${maxTtl} ms${nodes === undefined ? '' : `, ${nodes} nodes`}`;
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
