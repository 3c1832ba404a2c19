// Entry of a shard worker thread: load TypeScript through tsx, then run the shard.
import { register } from 'tsx/esm/api';

register();
await import('./shard-worker.ts');
