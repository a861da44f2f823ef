/**
 * A short script as a user would write it: acquire, release, quit — then nothing keeps the
 * process alive. Prints {"quit": <ms since start>} when quit() resolved; the test measures how
 * long the process takes to exit after that. It has no timers of its own (a stray handle of the
 * library is what would keep it alive), and it never reads stdin.
 * Argument: JSON { urls, prefix, options? } (`options`: the acquire's, e.g. the lock thread).
 */
import { type AcquireOptions, Redlock } from '../../src/index.js';

const { urls, prefix, options } = JSON.parse(process.argv[2] ?? '{}') as { urls: string[]; prefix: string; options?: AcquireOptions };
const redlock = new Redlock(urls, { prefix });
const lock = await redlock.acquire('quit', 1_000, options);
await lock.release();
await redlock.quit();
process.stdout.write(`${JSON.stringify({ quit: true })}\n`);
