// The layering of ../shared/DESIGN.md §1, checked in `npm test` (npm run deps). Data flows down;
// nothing below imports anything above. errors.ts, clock.ts, unsafe.ts and generated/ are leaves
// every layer may use.
const layer = (name) => `^src/${name}/`;
const above = {
  core: ['nodes', 'fencing', 'redlock', 'election', 'queue', 'decorators', 'cli'],
  nodes: ['fencing', 'redlock', 'election', 'queue', 'decorators', 'cli'],
  fencing: ['redlock', 'election', 'queue', 'decorators', 'cli'],
  redlock: ['election', 'queue', 'decorators', 'cli'],
  election: ['queue', 'decorators', 'cli'],
  queue: ['decorators', 'cli'],
  decorators: ['cli'],
};

module.exports = {
  forbidden: [
    ...Object.entries(above).map(([from, targets]) => ({
      name: `${from}-imports-above`,
      comment: `src/${from} must not import ${targets.join(', ')} (DESIGN.md §1)`,
      severity: 'error',
      from: { path: layer(from) },
      to: { path: `^src/(${targets.join('|')})/` },
    })),
    {
      name: 'core-knows-no-redis',
      comment: 'src/core knows nothing of Redis (DESIGN.md §1)',
      severity: 'error',
      from: { path: layer('core') },
      to: { path: 'node_modules/(ioredis|cluster-key-slot)/' },
    },
    {
      name: 'no-cycles',
      comment: 'no import cycles between modules',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^src/generated/' },
  },
};
