import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliError, EXIT } from '../../cli/command.js';
import { synthCommand } from '../../cli/commands/synth.js';
import { generateBiobank } from '../../synth/index.js';
import { tempDir } from './helpers.js';

describe('biobank synth', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cli'));
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await cleanup();
  });

  const small = ['--size', 'custom', '--persons', '300', '--variants', '1500'];

  it('writes a release and refuses to overwrite it without --force', async () => {
    const out = join(dir, 'r1');
    expect(
      await synthCommand.run(['--out', out, ...small, '--seed', '9', '--release-id', 'my-release']),
    ).toBe(EXIT.ok);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.releaseId).toBe('my-release');
    const err = await synthCommand.run(['--out', out, ...small]).catch((e) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    expect((err as CliError).message).toMatch(/already exists/);
    expect(
      await synthCommand.run([
        '--out',
        out,
        ...small,
        '--seed',
        '9',
        '--reuse',
        '--release-id',
        'my-release',
      ]),
    ).toBe(EXIT.ok);
    expect(await synthCommand.run(['--out', out, ...small, '--seed', '10', '--force'])).toBe(EXIT.ok);
    expect(JSON.parse(readFileSync(join(out, 'truth.json'), 'utf8')).generator.seed).toBe(10);
  });

  it('gives the same bytes as the library call with the same options', async () => {
    const a = join(dir, 'lib');
    await generateBiobank({
      out: a,
      size: 'custom',
      persons: 300,
      variants: 1500,
      seed: 9,
      releaseId: 'my-release',
    });
    const b = join(dir, 'cli');
    await synthCommand.run(['--out', b, ...small, '--seed', '9', '--release-id', 'my-release']);
    for (const f of readdirSync(a))
      expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f))), f).toBe(true);
  });

  it.each([
    [[...small], /--out <folder> is required/],
    [['--out', 'x', '--size', 'huge'], /--size must be one of/],
    [['--out', 'x', '--size', 'custom', '--persons', '100'], /needs --persons and --variants/],
    [['--out', 'x', '--persons', 'many'], /--persons must be a whole number/],
    [['--out', 'x', '--seed=-3'], /--seed must be a whole number/],
    [['--out', 'x', '--force', '--reuse'], /either --force or --reuse/],
    [['--out', 'x', '--bogus'], /Unknown option/],
    [['--out', join('x', 'y'), ...small, '--phecode-maps', '/nonexistent/maps'], /no phecode 1.2 map found/],
  ])('rejects bad usage %j', async (argv, message) => {
    const err = await synthCommand.run(argv as string[]).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(message);
    expect(existsSync('x')).toBe(false);
  });
});
