/**
 * One producer of a derived folder, as its own OS process (for the two-process race test):
 * waits for `<root>/go`, then produces `<target>` through atomicProduce with two files written
 * `delayMs` apart, and prints `ok <pid>` on success.
 * Usage: node --import tsx test/helpers/produce-folder.ts <root> <target> <delayMs>
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicProduce } from '../../engine/fsutil.js';

const [root, target, delay] = process.argv.slice(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
await writeFile(join(root, `ready-${process.pid}`), '');
while (!existsSync(join(root, 'go'))) await sleep(2);
await atomicProduce(target, async (tmp) => {
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, 'pcs.parquet'), 'same content');
  await sleep(Number(delay));
  await writeFile(join(tmp, 'info.json'), '{"n":1}');
});
process.stdout.write(`ok ${process.pid}\n`);
