/**
 * What every bench child process (s5-holder, s5-leader) does first: read its JSON argument, exit
 * by itself after `maxLifeMs` (3) or when its parent goes away and stdin closes (4), so that it
 * can never outlive a failed run; and talk to the parent in JSON lines on stdout.
 */
export function startChild<T extends { readonly maxLifeMs: number }>(): T {
  const args = JSON.parse(process.argv[2] ?? '{}') as T;
  setTimeout(() => process.exit(3), args.maxLifeMs).unref();
  process.stdin.on('end', () => process.exit(4));
  process.stdin.on('close', () => process.exit(4));
  process.stdin.resume();
  return args;
}

/** One message to the parent: a JSON line on stdout. */
export const say = (message: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};
