/** File helpers shared by activities: atomic writes, content hashes, temp paths. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A sibling temp path for `target`, unique per call, in the same folder so rename is atomic. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Produce `target` atomically: `produce` writes to a temp path, which is renamed over
 * `target` only if `produce` succeeds. On failure the temp file is removed.
 *
 * Racing producers: output paths derive from their inputs, so two producers of one `target`
 * (two studies building the same PCA or phenome at once, on one worker or on two) make the same
 * content. A file is simply replaced by the later rename. A folder cannot be renamed over a
 * non-empty one (ENOTEMPTY/EEXIST): then the loser adopts the winner's folder, removes its own
 * copy and returns its result, which describes the same content. It never fails for the race.
 */
export async function atomicProduce<T>(target: string, produce: (tmp: string) => Promise<T>): Promise<T> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    const result = await produce(tmp);
    try {
      await rename(tmp, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await exists(target))) {
        await rm(tmp, { force: true, recursive: true });
        return result;
      }
      throw err;
    }
    return result;
  } catch (err) {
    await rm(tmp, { force: true, recursive: true });
    throw err;
  }
}

/** Write text or bytes to `target` atomically. */
export async function atomicWriteFile(target: string, data: string | Uint8Array): Promise<void> {
  await atomicProduce(target, (tmp) => writeFile(tmp, data));
}

/** sha256 of a file's content, hex. Streams, so memory stays flat for large files. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** sha256 of a string, hex. */
export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** True if `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** JSON with sorted object keys, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
