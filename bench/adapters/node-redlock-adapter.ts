import Redlock from 'redlock';
import { redlockFamily } from './redlock-family.js';

/** node-redlock `redlock@5.0.0-beta.2`: one Lua script per node, retries with the same value. */
export const nodeRedlock = redlockFamily('node-redlock', 'node-redlock v5', (clients, settings) => new Redlock(clients, settings));
