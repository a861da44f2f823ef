#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { RedfenceError } from '../errors.js';
import { nonNegativeInteger, positiveInteger } from '../options.js';
import { redlockDefaults } from '../redlock/redlock-options.js';
import { runInit, runInspect, runRepair } from './admin.js';
import { runDemo } from './demo.js';

const USAGE = `Usage: redfence <command> [options]

Commands:
  demo [--duration s] [--nodes n] [--workers k]
      Start an embedded local cluster of n redis-server processes (default 5), let k workers
      (default 4) contend for a few resources for s seconds (default 5), print every grant with
      its fencing token and a summary, then stop every process.
  inspect [--prefix p] <redis-url>...
      Show each node's ready marker and how many fencing counters it holds.
  repair --node i [--prefix p] [--max-ttl ms] <redis-url>...
      Bring back node i (0-based) after it lost its data: copy the fencing counters from a
      majority, then wait out the cluster's max TTL (or --max-ttl, if larger), mark it ready.
      Use the same node list, prefix and maxTtl as your application (defaults: redfence:, 60000).
  init [--prefix p] [--max-ttl ms] <redis-url>...
      Initialise a NEW cluster while some of its nodes are down (the first grant does it by
      itself when every node answers). Assumes no node, reachable or not, was ever used under
      the prefix; refuses if a reachable one was. Nodes that were down are repaired when they come.
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command === 'demo') {
    const { values } = parseArgs({
      args: rest,
      options: {
        duration: { type: 'string', default: '5' },
        nodes: { type: 'string', default: '5' },
        workers: { type: 'string', default: '4' },
      },
      strict: true,
    });
    const summary = await runDemo({
      durationS: positiveInteger('--duration', Number(values.duration)),
      nodes: positiveInteger('--nodes', Number(values.nodes)),
      workers: positiveInteger('--workers', Number(values.workers)),
    });
    return summary.regressions === 0 ? 0 : 1;
  }
  if (command === 'inspect' || command === 'repair' || command === 'init') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: {
        prefix: { type: 'string', default: redlockDefaults.prefix },
        'max-ttl': { type: 'string', default: String(redlockDefaults.maxTtl) },
        node: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
    const options = {
      urls: positionals,
      prefix: values.prefix,
      maxTtl: positiveInteger('--max-ttl', Number(values['max-ttl'])),
    };
    if (command === 'inspect') return runInspect(options);
    if (command === 'init') return runInit(options);
    await runRepair({ ...options, index: nonNegativeInteger('--node', Number(values.node)) });
    return 0;
  }
  process.stderr.write(`redfence: unknown command \`${command}\`\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`redfence: ${error instanceof RedfenceError || error instanceof TypeError ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
