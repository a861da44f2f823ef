import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisNode, systemClock } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';

// A lock node batches the requests made together while others are in flight into one write (its
// rounds send many at once); a queue's connection (`batchWrites: false`) sends each at once, so that
// Redis runs it while the worker prepares the next (S4 in docs/performance.md).
const env = useCluster(1);

for (const batchWrites of [true, false]) {
  test(`batchWrites ${String(batchWrites)}: a request made while others are in flight ${batchWrites ? 'waits for the batch' : 'is written at once'}`, async () => {
    const node = new RedisNode(env.cluster.urls[0] ?? '', 'connection', systemClock, undefined, { batchWrites });
    try {
      const counts = (): Promise<unknown> => node.run('queueCounts', [`${env.prefix()}{q}:meta`], ['']);
      await counts(); // connected, scripts loaded
      const stream = (node.client as Redis).stream;
      const first = counts();
      const second = counts(); // one request in flight: a batch starts here, or not
      assert.equal(stream.writableCorked, batchWrites ? 1 : 0);
      await Promise.all([first, second]);
      assert.equal(stream.writableCorked, 0, 'and nothing is left corked');
    } finally {
      await node.close();
    }
  });
}
