import { Redlock } from '@sesamecare-oss/redlock';
import { redlockFamily } from './redlock-family.js';

/** `@sesamecare-oss/redlock`: node-redlock's maintained fork (ioredis defineCommand scripts). */
export const sesamecare = redlockFamily('sesamecare', '@sesamecare-oss/redlock', (clients, settings) => new Redlock(clients, settings));
