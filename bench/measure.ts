/** Timing helpers of the command-line benchmarks: GNU time -v around a command, disk use, load. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

export interface Timed {
  wallS: number;
  /** User + system CPU seconds (all threads). */
  cpuS: number;
  peakRssMiB: number;
  code: number;
  stderr: string;
}

/** Run a command under GNU time -v and parse wall time and max RSS. */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Timed {
  const r = spawnSync('/usr/bin/time', ['-v', cmd, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const err = r.stderr ?? '';
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(err);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
  const user = /User time \(seconds\): ([\d.]+)/.exec(err);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(err);
  if (!wall || !rss) throw new Error(`could not read GNU time output:\n${err.slice(-2000)}`);
  const wallS = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  const cpuS = Number(user?.[1] ?? 0) + Number(sys?.[1] ?? 0);
  return { wallS, cpuS, peakRssMiB: Number(rss[1]) / 1024, code: r.status ?? -1, stderr: err };
}

export function du(p: string): number {
  return Number(execFileSync('du', ['-sb', p], { encoding: 'utf8' }).split('\t')[0]) / 2 ** 20;
}

/**
 * The bench VCF: a synthetic release of `persons` × `variants` made once with `biobank synth`
 * in `rel` and reused afterwards; returns the path of its VCF.
 */
export function benchVcf(bin: string, rel: string, persons: string, variants: string): string {
  if (!existsSync(join(rel, 'manifest.json'))) {
    console.error(`generating ${persons} × ${variants} with biobank synth into ${rel} …`);
    const args = [
      'synth',
      '--size',
      'custom',
      '--persons',
      persons,
      '--variants',
      variants,
      '--out',
      rel,
      '--reuse',
    ];
    execFileSync('node', [bin, ...args], { stdio: 'inherit' });
  }
  const m = JSON.parse(readFileSync(join(rel, 'manifest.json'), 'utf8')) as { genotypes: string[] };
  return join(rel, m.genotypes[0]);
}
