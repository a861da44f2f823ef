// Worker entry: registers tsx in this thread, then runs the TypeScript waiter.
import { register } from 'tsx/esm/api';
register();
await import('./waiter-thread.ts');
