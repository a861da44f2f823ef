#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RedfenceError } from '../errors.js';
import { redlockDefaults } from '../redlock/redlock-options.js';
import { runInit, runInspect, runRepair } from './admin.js';
import { runDemo } from './demo.js';

type Command = 'demo' | 'inspect' | 'repair' | 'init';

const USAGE: Record<Command, string> = {
  demo: `Usage: redfence demo [--duration s] [--nodes n] [--workers k]

Starts n redis-server lock nodes and one more as the store, all on loopback, and lets k workers
increment one balance under the lock for s seconds, writing through a fenced store (RedisFence).
Midway one holder stalls past its lock's validity (a simulated GC pause) and its late write is
rejected by the store; then one node is paused (SIGSTOP) and resumed while grants go on. Ends with
a summary (grants, token range, stale writes rejected, violations) and stops every process.

Options:
  --duration s   seconds to run, 2 to 3600 (default 5)
  --nodes n      lock nodes, 1 to 9 (default 5; odd numbers are recommended)
  --workers k    workers, 2 to 16 (default 4)
  -h, --help     show this help
`,
  inspect: `Usage: redfence inspect [--prefix p] <redis-url>...

Shows each node's ready marker and how many fencing counters it holds. Exits 1 when fewer than a
majority of the nodes are ready.

Options:
  --prefix p     key prefix of your Redlock (default ${redlockDefaults.prefix})
  -h, --help     show this help
`,
  repair: `Usage: redfence repair --node i [--prefix p] [--max-ttl ms] <redis-url>...

Brings back node i (0-based, in the order of the URLs) after it lost its data: copies the fencing
counters from a majority, waits out the cluster's max TTL (or --max-ttl, if larger), and marks it
ready. Give the same node list, prefix and max TTL as your application.

Options:
  --node i       index of the node to repair (required)
  --prefix p     key prefix of your Redlock (default ${redlockDefaults.prefix})
  --max-ttl ms   your Redlock's maxTtl (default ${redlockDefaults.maxTtl})
  -h, --help     show this help
`,
  init: `Usage: redfence init [--prefix p] [--max-ttl ms] <redis-url>...

Initialises a NEW cluster while some of its nodes are down (the first grant does it by itself when
every node answers). Assumes no node, reachable or not, was ever used under the prefix, and
refuses if a reachable one was. Nodes that were down are repaired when they come.

Options:
  --prefix p     key prefix of your Redlock (default ${redlockDefaults.prefix})
  --max-ttl ms   your Redlock's maxTtl (default ${redlockDefaults.maxTtl})
  -h, --help     show this help
`,
};

const OVERVIEW = `Usage: redfence <command> [options]

Commands:
  demo      fencing at work on an embedded local cluster (start here)
  inspect   show each node's ready marker and fencing counters
  repair    bring back a node that lost its data
  init      initialise a new cluster while some of its nodes are down

Run \`redfence <command> --help\` for a command's options, \`redfence --version\` for the version.
`;

/** A bad call: reported as one line and a pointer to the usage, exit code 2. */
class UsageError extends Error {
  constructor(
    readonly command: Command | undefined,
    message: string,
  ) {
    super(message);
  }
}

const isCommand = (word: string | undefined): word is Command => word !== undefined && Object.hasOwn(USAGE, word);

/** package.json's version, read next to this module: dist/cli/ and src/cli/ both sit two levels down. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return String(pkg.version);
}

/** Parses `args` strictly, turning node:util's errors into one-line usage errors. */
function parse<O extends NonNullable<ParseArgsConfig['options']>>(command: Command, args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const option = /'(-[^' ]*)/.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(command, `unknown option \`${option ?? message}\``);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(command, `option \`${option ?? '?'}\` needs a value`);
    throw new UsageError(command, message.split('\n')[0] ?? message);
  }
}

/** A decimal number from `min` to `max` (whole when `whole`), or a usage error that says so. */
function numberOption(command: Command, name: string, raw: string, min: number, max: number, what: string, whole = true): number {
  const value = (whole ? /^\d+$/ : /^\d+(\.\d+)?$/).test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(command, `\`--${name}\` must be ${what} from ${min} to ${max}, got \`${raw}\``);
  }
  return value;
}

/** The node URLs of an admin command: at least one, each redis:// or rediss://. */
function nodeUrls(command: Command, positionals: readonly string[]): string[] {
  if (positionals.length === 0) {
    throw new UsageError(command, 'the node URLs are required, all of them, in your application\'s order (e.g. redis://10.0.0.1:6379 redis://10.0.0.2:6379 …)');
  }
  for (const raw of positionals) {
    let protocol = '';
    try {
      protocol = new URL(raw).protocol;
    } catch {
      // reported below
    }
    if (protocol !== 'redis:' && protocol !== 'rediss:') throw new UsageError(command, `\`${raw}\` is not a node URL (redis://host:port or rediss://…)`);
  }
  return [...positionals];
}

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = rest[0];
    process.stdout.write(isCommand(topic) ? USAGE[topic] : OVERVIEW);
    return 0;
  }
  if (first === undefined) {
    process.stderr.write(OVERVIEW);
    return 2;
  }
  if (!isCommand(first)) {
    throw new UsageError(undefined, first.startsWith('-') ? `unknown option \`${first}\`` : `unknown command \`${first}\``);
  }
  const command = first;
  const beforeDashes = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
    process.stdout.write(USAGE[command]);
    return 0;
  }

  if (command === 'demo') {
    const { values, positionals } = parse(command, rest, {
      duration: { type: 'string', default: '5' },
      nodes: { type: 'string', default: '5' },
      workers: { type: 'string', default: '4' },
    });
    if (positionals.length > 0) throw new UsageError(command, `unexpected argument \`${positionals[0]}\``);
    const nodes = numberOption(command, 'nodes', values.nodes, 1, 9, 'a whole number');
    const workers = numberOption(command, 'workers', values.workers, 2, 16, 'a whole number');
    const durationS = numberOption(command, 'duration', values.duration, 2, 3600, 'a number of seconds', false);
    if (nodes % 2 === 0) {
      process.stderr.write(
        `redfence demo: note: ${nodes} nodes survive no more failures than ${nodes - 1} (a grant needs ${nodes / 2 + 1}); an odd number is recommended\n`,
      );
    }
    const summary = await runDemo({ durationS, nodes, workers });
    return summary.violations === 0 && summary.stopped ? 0 : 1;
  }

  const { values, positionals } = parse(command, rest, {
    prefix: { type: 'string', default: redlockDefaults.prefix },
    ...(command === 'inspect' ? {} : { 'max-ttl': { type: 'string', default: String(redlockDefaults.maxTtl) } }),
    ...(command === 'repair' ? { node: { type: 'string' } } : {}),
  } as const);
  const urls = nodeUrls(command, positionals);
  const prefix = values.prefix;
  if (prefix.length === 0) throw new UsageError(command, '`--prefix` must not be empty');
  const maxTtlRaw = values['max-ttl'] as string | undefined;
  const options = {
    urls,
    prefix,
    maxTtl: maxTtlRaw === undefined ? redlockDefaults.maxTtl : numberOption(command, 'max-ttl', maxTtlRaw, 1, 2 ** 31 - 1, 'a whole number of milliseconds'),
  };
  if (command === 'inspect') return runInspect(options);
  if (command === 'init') return runInit(options);
  const node = values.node as string | undefined;
  if (node === undefined) throw new UsageError(command, '`--node` is required: the 0-based index, in the URL list, of the node to repair');
  const index = numberOption(command, 'node', node, 0, urls.length - 1, urls.length === 1 ? 'the index of the one URL given,' : `the index of one of the ${urls.length} URLs given,`);
  await runRepair({ ...options, index });
  return 0;
}

/** One line, whatever the message: the CLI's errors are read in a terminal or a log. */
const oneLine = (message: string): string => message.replace(/\s*\n\s*/g, ' ').trim();

// Output piped into a reader that quit (`redfence demo | head`): stop writing, finish quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      const where = error.command === undefined ? 'redfence' : `redfence ${error.command}`;
      const help = error.command === undefined ? 'redfence --help' : `redfence ${error.command} --help`;
      process.stderr.write(`${where}: ${oneLine(error.message)}\nRun \`${help}\` for usage.\n`);
      process.exitCode = 2;
      return;
    }
    const message = error instanceof RedfenceError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stderr.write(`redfence: ${oneLine(message)}\n`);
    process.exitCode = 1;
  },
);
