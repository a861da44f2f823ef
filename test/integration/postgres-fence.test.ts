/**
 * examples/postgres-fence.ts against a real PostgreSQL server, with real Redlock grants.
 *
 * The test starts its own throw-away server: `initdb` into a temp dir, `postgres` on 127.0.0.1 on a
 * free port with its unix socket in that dir and fsync off; stopped (SIGTERM, then SIGKILL after a
 * bound) and the dir removed at the end, also on failure. PostgreSQL refuses to run as root, so as
 * root both run as the `postgres` user through `runuser` (or `su`), created if missing.
 *
 * Binaries: `$PG_BINDIR` if set, else `pg_config --bindir`, else the newest
 * /usr/lib/postgresql/<version>/bin, else `initdb`/`postgres` on PATH. None found fails the test.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  accountResource,
  createAccount,
  createSchema,
  fencedUpdate,
  fencedWrite,
  readAccount,
} from '../../examples/postgres-fence.js';
import { StaleTokenError } from '../../src/index.js';
import { resourceKeys } from '../../src/core/keys.js';
import { delay, useCluster } from '../support/cluster.js';

const INSTALL_HINT =
  'PostgreSQL server binaries (initdb, postgres) are required by this test. ' +
  'Install them with `apt-get install -y postgresql` (Debian/Ubuntu; with sudo when not root), ' +
  'or set PG_BINDIR to the directory that holds initdb and postgres.';

// ---------------------------------------------------------------------------------------------
// A throw-away PostgreSQL server
// ---------------------------------------------------------------------------------------------

const hasServerBinaries = (dir: string): boolean =>
  ['initdb', 'postgres'].every((name) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/** The directory holding `initdb` and `postgres`, or throws with how to install them. */
function findPostgresBinDir(): string {
  const explicit = process.env['PG_BINDIR'];
  if (explicit !== undefined && explicit !== '') {
    if (hasServerBinaries(explicit)) return explicit;
    throw new Error(`PG_BINDIR=${explicit} does not contain initdb and postgres. ${INSTALL_HINT}`);
  }
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', timeout: 5_000 }).trim());
  } catch {
    // pg_config is missing (or only the client library is installed); try the usual places.
  }
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot).sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
    candidates.push(...versions.map((v) => join(debianRoot, v, 'bin')));
  }
  for (const dir of (process.env['PATH'] ?? '').split(':')) if (dir !== '') candidates.push(dir);
  const found = candidates.find(hasServerBinaries);
  if (found === undefined) throw new Error(`PostgreSQL not found (looked in ${candidates.length} places). ${INSTALL_HINT}`);
  return found;
}

/** A free TCP port on 127.0.0.1 (free when asked; a clash is retried by the caller). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const run = (file: string, args: string[]): string => execFileSync(file, args, { encoding: 'utf8', timeout: 10_000 }).trim();

interface RunAs {
  /** The command and arguments that run `file args` as the server's user. */
  wrap(file: string, args: string[]): [string, string[]];
  uid: number;
  gid: number;
}

/** As root: run as `postgres` (created if missing). Otherwise: run as ourselves. */
function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = 'postgres';
  try {
    run('id', ['-u', user]);
  } catch {
    run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
  }
  const uid = Number(run('id', ['-u', user]));
  const gid = Number(run('id', ['-g', user]));
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return {
    uid,
    gid,
    wrap: (file, args) =>
      runuser !== undefined
        ? [runuser, ['-u', user, '--', file, ...args]]
        : ['su', [user, '-s', '/bin/sh', '-c', `exec ${[file, ...args].map(quote).join(' ')}`]],
  };
}

interface PostgresServer {
  readonly port: number;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Keeps the last `limit` characters of a stream (the server log) for error messages. */
function tail(limit = 8_000): { push(chunk: Buffer): void; text(): string } {
  let text = '';
  return {
    push: (chunk) => {
      text = (text + chunk.toString()).slice(-limit);
    },
    text: () => text,
  };
}

async function startPostgres(): Promise<PostgresServer> {
  const bin = findPostgresBinDir();
  const as = serverUser();
  const wrap = (file: string, args: string[]): [string, string[]] => as?.wrap(file, args) ?? [file, args];
  const dir = mkdtempSync(join(tmpdir(), 'redfence-pg-'));
  const data = join(dir, 'data');
  let child: ChildProcess | undefined;
  const log = tail();

  const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;
  const waitExit = (p: ChildProcess, ms: number): Promise<boolean> =>
    exited(p)
      ? Promise.resolve(true)
      : new Promise((resolve) => {
          const timer = setTimeout(() => resolve(exited(p)), ms);
          p.once('exit', () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
  /** The postmaster's pid (the child may be runuser/su in front of it). */
  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return as === undefined ? child?.pid : undefined;
    }
  };
  const signal = (pid: number | undefined, sig: NodeJS.Signals): void => {
    if (pid === undefined) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  // Last resort if the test process exits without running `after` (a crash).
  const killOnExit = () => {
    signal(postmasterPid(), 'SIGKILL');
    signal(child?.pid, 'SIGKILL');
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      if (child !== undefined && !exited(child)) {
        // SIGTERM to the postmaster itself: a smart shutdown (clients are closed by now). Signalling
        // runuser/su instead would make it SIGKILL the server after 2 s.
        signal(postmasterPid() ?? child.pid, 'SIGTERM');
        if (!(await waitExit(child, 10_000))) {
          signal(postmasterPid(), 'SIGKILL');
          signal(child.pid, 'SIGKILL');
          await waitExit(child, 5_000);
        }
      }
    } finally {
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  };

  try {
    if (as !== undefined) chownSync(dir, as.uid, as.gid);
    const [initFile, initArgs] = wrap(join(bin, 'initdb'), [
      '-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync',
    ]);
    try {
      execFileSync(initFile, initArgs, { cwd: dir, encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`initdb failed (${initFile} ${initArgs.join(' ')}): ${stderr}`, { cause: error });
    }

    // A port can be taken between asking and binding; try a few.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const port = await freePort();
      const [file, args] = wrap(join(bin, 'postgres'), [
        '-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', dir,
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      ]);
      const started = spawn(file, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      process.once('exit', killOnExit);
      started.stdout?.on('data', (chunk: Buffer) => log.push(chunk));
      started.stderr?.on('data', (chunk: Buffer) => log.push(chunk));
      const ready = await waitReady(port, started);
      if (ready) {
        return { port, dir, stop };
      }
      await waitExit(started, 5_000);
      process.off('exit', killOnExit);
      if (!/could not bind|Address already in use/i.test(log.text()) || attempt === 3) {
        throw new Error(`postgres did not start (${file} ${args.join(' ')}):\n${log.text()}`);
      }
    }
    throw new Error('unreachable');
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Polls until the server accepts a connection (true), or it exited or 30 s passed (false). */
async function waitReady(port: number, server: ChildProcess): Promise<boolean> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) return false;
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      await within(client.end(), 1_000, 'a failed connection to close').catch(() => undefined);
      await delay(100);
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

const env = useCluster(5);
let server: PostgresServer | undefined;
let pool: pg.Pool | undefined;

before(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres', max: 4 });
  pool.on('error', () => undefined);
  await createSchema(pool);
}, { timeout: 180_000 });

after(async () => {
  try {
    await pool?.end();
  } finally {
    await server?.stop();
  }
});

const db = (): pg.Pool => {
  if (pool === undefined) throw new Error('PostgreSQL not started');
  return pool;
};

let accounts = 0;
/** A fresh account per test, so tests never share a row. */
async function newAccount(balance: bigint): Promise<string> {
  accounts += 1;
  const id = `${env.prefix()}acct-${accounts}`;
  await createAccount(db(), id, balance);
  return id;
}

/** Resolves as `promise` does, or fails after `ms`; leaves no timer behind. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that `promise` rejects with a StaleTokenError for `id` naming `token` and `highest`. */
async function assertStale(promise: Promise<unknown>, id: string, token: bigint, highest: bigint): Promise<void> {
  const error = await promise.then(
    () => assert.fail(`stale token ${token} was accepted`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof StaleTokenError, `expected StaleTokenError, got ${String(error)}`);
  assert.equal(error.resource, accountResource(id));
  assert.equal(error.token, token);
  assert.equal(error.highest, highest);
}

describe('PostgreSQL fence (examples/postgres-fence.ts)', () => {
  test('a holder whose lease ran out cannot write after the next holder', async () => {
    const id = await newAccount(100n);
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const first = await redlock.acquire(accountResource(id), 200);
    await delay(350); // the first holder is paused past its lease
    assert.ok(first.remainingMs() <= 0, 'the first lease has run out');
    const second = await other.acquire(accountResource(id), 5_000);
    try {
      assert.ok(second.fencingToken > first.fencingToken);
      await fencedWrite(db(), id, 200n, second.fencingToken);
      await assertStale(fencedWrite(db(), id, 999n, first.fencingToken), id, first.fencingToken, second.fencingToken);
      assert.deepEqual(await readAccount(db(), id), { balance: 200n, fence: second.fencingToken });
    } finally {
      await second.release();
    }
  });

  test('an equal token is the same grant writing again and is accepted', async () => {
    const id = await newAccount(0n);
    const redlock = env.redlock();
    const lock = await redlock.acquire(accountResource(id), 5_000);
    try {
      await fencedWrite(db(), id, 1n, lock.fencingToken);
      await fencedWrite(db(), id, 2n, lock.fencingToken);
      assert.equal(await fencedUpdate(db(), id, lock.fencingToken, (b) => b + 3n), 5n);
      assert.deepEqual(await readAccount(db(), id), { balance: 5n, fence: lock.fencingToken });
      await assertStale(fencedWrite(db(), id, 7n, lock.fencingToken - 1n), id, lock.fencingToken - 1n, lock.fencingToken);
    } finally {
      await lock.release();
    }
  });

  test('read-modify-write, interleaved: the old holder reads, the new one reads and writes, the old write is refused', async () => {
    const id = await newAccount(100n);
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const old = await redlock.acquire(accountResource(id), 200);

    let readDone!: (balance: bigint) => void;
    const oldRead = new Promise<bigint>((resolve) => (readDone = resolve));
    let resumeOld!: () => void;
    const oldPaused = new Promise<void>((resolve) => (resumeOld = resolve));
    const oldUpdate = fencedUpdate(db(), id, old.fencingToken, async (balance) => {
      readDone(balance);
      await oldPaused; // paused after reading, past its lease
      return balance + 1n;
    });
    oldUpdate.catch(() => undefined); // asserted below; keeps an early rejection from going unhandled
    assert.equal(await within(oldRead, 10_000, 'the old holder to read'), 100n);
    await delay(350);
    assert.ok(old.remainingMs() <= 0, 'the old lease has run out');

    const next = await other.acquire(accountResource(id), 5_000);
    try {
      assert.equal(await fencedUpdate(db(), id, next.fencingToken, (balance) => balance + 10n), 110n);
      resumeOld();
      await assertStale(oldUpdate, id, old.fencingToken, next.fencingToken);
      assert.deepEqual(await readAccount(db(), id), { balance: 110n, fence: next.fencingToken }, 'no lost update');
      // Once the newer holder has registered, the old one cannot even read.
      await assertStale(fencedUpdate(db(), id, old.fencingToken, () => assert.fail('stale read allowed')), id, old.fencingToken, next.fencingToken);
    } finally {
      resumeOld();
      await next.release();
    }
  });

  test('tokens above 2^53 round-trip exactly through bigint columns', async () => {
    const id = await newAccount(0n);
    const redlock = env.redlock();
    // Move the nodes' counters for this resource past 2^53 so the grant's real token is there too.
    const counterKey = resourceKeys(redlock.settings.prefix, [accountResource(id)]).counters[0] ?? assert.fail('no counter key');
    const exact = 2n ** 53n + 1n; // 9007199254740993: no double has this value (it rounds to 2^53)
    await redlock.acquire(accountResource(id), 1_000).then((l) => l.release());
    await Promise.all(env.clients().map((c) => c.set(counterKey, (exact - 1n).toString())));
    const lock = await redlock.acquire(accountResource(id), 5_000);
    try {
      assert.equal(lock.fencingToken, exact);
      await fencedWrite(db(), id, 1n, lock.fencingToken);
      assert.deepEqual(await readAccount(db(), id), { balance: 1n, fence: exact });
      // Through a double, the stale 2^53 would equal the fence (2^53 + 1 rounds to 2^53) and pass.
      await assertStale(fencedWrite(db(), id, 2n, exact - 1n), id, exact - 1n, exact);
    } finally {
      await lock.release();
    }
    // The largest token redfence can issue (2^63 − 1, the top of a PostgreSQL bigint).
    const max = 2n ** 63n - 1n;
    assert.equal(await fencedUpdate(db(), id, max, (b) => b + 1n), 2n);
    assert.deepEqual(await readAccount(db(), id), { balance: 2n, fence: max });
    await assertStale(fencedWrite(db(), id, 3n, max - 1n), id, max - 1n, max);
  });

  test('a missing account is an error, not a stale token', async () => {
    await assert.rejects(
      fencedWrite(db(), `${env.prefix()}nobody`, 1n, 1n),
      (e: unknown) => e instanceof Error && !(e instanceof StaleTokenError) && /does not exist/.test(e.message),
    );
  });
});
