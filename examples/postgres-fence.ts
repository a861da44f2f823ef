/**
 * Fenced writes to PostgreSQL with redfence's fencing tokens.
 *
 * A lease can run out while its holder is paused (GC, swap, a slow network), and the holder cannot
 * notice before it acts. So the store checks instead: every row the lock protects keeps the highest
 * token that has acted on it (`fence`), and a statement carrying a lower token changes nothing.
 *
 * The whole rule is one condition in the `WHERE` clause:
 *
 * ```sql
 * UPDATE accounts SET balance = $2, fence = $3 WHERE id = $1 AND fence <= $3
 * ```
 *
 * - 1 row updated: the token is the highest seen (or equal: the same grant acting again).
 * - 0 rows updated: a holder with a higher token has already acted; this token is stale.
 *
 * The check and the write are one statement, so they are atomic: under READ COMMITTED a concurrent
 * UPDATE of the same row waits for the row lock and then re-evaluates `fence <= $3` against the
 * row as the other transaction left it. No explicit transaction or `SELECT … FOR UPDATE` is needed.
 *
 * Tokens are `bigint` and may exceed 2^53, so they are sent to PostgreSQL as decimal strings and
 * stored in a `bigint` column; node-postgres returns `bigint` columns as strings, read back with
 * `BigInt()`. Never let a token pass through a JavaScript `number`.
 *
 * Run against a real server in test/integration/postgres-fence.test.ts.
 *
 * @example
 * await using lock = await redlock.acquire('accounts:alice', 5_000)
 * await fencedUpdate(pool, 'alice', lock.fencingToken, (balance) => balance + 10n)
 */
import type { QueryResult, QueryResultRow } from 'pg';
import { StaleTokenError } from '../src/index.js';

/** Anything that runs a parameterised query: a `pg.Client`, a `pg.Pool` or a `pg.PoolClient`. */
export interface Queryable {
  query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>>;
}

/** The resource name a lock on account `id` uses; also reported in {@link StaleTokenError}. */
export const accountResource = (id: string): string => `accounts:${id}`;

/**
 * Creates the `accounts` table if it does not exist. `fence` holds the highest token that has
 * acted on the row; 0 means no holder yet (redfence tokens are always above 0).
 */
export async function createSchema(client: Queryable): Promise<void> {
  await client.query(
    `CREATE TABLE IF NOT EXISTS accounts (
       id      text   PRIMARY KEY,
       balance bigint NOT NULL,
       fence   bigint NOT NULL DEFAULT 0
     )`,
    [],
  );
}

/** Inserts account `id` with `balance` and no fence yet. */
export async function createAccount(client: Queryable, id: string, balance: bigint): Promise<void> {
  await client.query('INSERT INTO accounts (id, balance) VALUES ($1, $2)', [id, balance.toString()]);
}

/**
 * Sets the balance of account `id` if `token` is not stale, and records `token` as the row's
 * fence. An equal token is accepted: it is the same grant writing again.
 * @throws {StaleTokenError} a higher token has already acted on the row; nothing was written.
 * @throws {Error} the account does not exist.
 */
export async function fencedWrite(client: Queryable, id: string, balance: bigint, token: bigint): Promise<void> {
  const result = await client.query(
    'UPDATE accounts SET balance = $2, fence = $3 WHERE id = $1 AND fence <= $3',
    [id, balance.toString(), tokenParam(token)],
  );
  if (result.rowCount !== 1) await throwRejected(client, id, token);
}

/**
 * A fenced read-modify-write: reads the balance of account `id` while registering `token` as the
 * row's fence, computes the new balance with `modify`, and writes it with {@link fencedWrite}.
 * Returns the new balance.
 *
 * Why the read registers the token: a read that only looks would let a stale holder read the
 * balance, lose its lock (pause past its lease), and later act on what it read — send an email,
 * call a payment API, or write to a store without a fence — although a newer holder has changed
 * the balance in between. Raising the fence at the read makes the order visible to the store:
 *
 * - a stale holder cannot read at all once a newer holder has read or written, and
 * - once a newer holder reads, every later write of an older holder is refused, so two holders can
 *   never both apply an update computed from the same old balance (no lost update).
 *
 * The read and the write are separate statements on purpose: no transaction or row lock is held
 * while `modify` runs, however long it takes. The fence alone keeps holders in token order.
 *
 * Not guaranteed: concurrent updates of one row under the *same* token (one grant racing with
 * itself) are not ordered against each other; the lock serialises holders, not a holder's own
 * concurrency.
 * @throws {StaleTokenError} at the read or the write; nothing was written.
 * @throws {Error} the account does not exist, or whatever `modify` throws (nothing was written).
 */
export async function fencedUpdate(
  client: Queryable,
  id: string,
  token: bigint,
  modify: (balance: bigint) => bigint | Promise<bigint>,
): Promise<bigint> {
  const read = await client.query<{ balance: string }>(
    'UPDATE accounts SET fence = $2 WHERE id = $1 AND fence <= $2 RETURNING balance',
    [id, tokenParam(token)],
  );
  const row = read.rows[0];
  if (row === undefined) return throwRejected(client, id, token);
  const next = await modify(BigInt(row.balance));
  await fencedWrite(client, id, next, token);
  return next;
}

/** Reads the balance and fence of account `id` without registering anything (for inspection). */
export async function readAccount(client: Queryable, id: string): Promise<{ balance: bigint; fence: bigint } | undefined> {
  const result = await client.query<{ balance: string; fence: string }>(
    'SELECT balance, fence FROM accounts WHERE id = $1',
    [id],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : { balance: BigInt(row.balance), fence: BigInt(row.fence) };
}

/** Sends `token` as a decimal string, so values above 2^53 reach the `bigint` column exactly. */
function tokenParam(token: bigint): string {
  if (typeof token !== 'bigint' || token < 0n) {
    throw new TypeError(`Expected \`token\` to be a non-negative bigint (lock.fencingToken), got \`${String(token)}\` (${typeof token})`);
  }
  return token.toString();
}

/** Explains a fenced statement that matched no row: a stale token, or a missing account. */
async function throwRejected(client: Queryable, id: string, token: bigint): Promise<never> {
  const current = await readAccount(client, id);
  if (current === undefined) throw new Error(`Account \`${id}\` does not exist; create it before writing to it.`);
  // The fence may have moved on again since the rejected statement; it is at least this high.
  throw new StaleTokenError(accountResource(id), token, current.fence);
}
