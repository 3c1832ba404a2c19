import { loadConfig } from '../../temporal.config.js';
import { DEFAULT_PORT, startViewer } from '../../viewer/server.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'browse results in a local web viewer (read-only; 127.0.0.1 by default)',
  usage: `
Usage: biobank serve [--port N] [--host ADDR] [--no-suppress]

Starts a local web viewer over the results database, opened READ-ONLY for each request, so
studies can keep writing while you browse. Pages: runs, a run's report, GWAS per phenotype
(Manhattan, QQ, top hits), variant (PheWAS across phecodes, GWAS rows across runs), gene
(burden results), phecode, and search by rsid, chr:pos, gene or phecode. The same data is
available as JSON under /api/ (e.g. /api/runs, /api/variant/1:55039974:G:T). Stop with Ctrl-C.

Options:
  --port N         port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host ADDR      address to bind (default 127.0.0.1: only this machine can connect).
                   Binding another address exposes results to the network: think twice.
  --no-suppress    show person counts from 1 to 20 (default: shown as ≤20)`,
  examples: [
    'biobank serve',
    'biobank serve --port 9000',
    'ssh -L 8787:127.0.0.1:8787 biobank-host   # then biobank serve there',
  ],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        port: { type: 'string', default: String(DEFAULT_PORT) },
        host: { type: 'string', default: '127.0.0.1' },
        'no-suppress': { type: 'boolean', default: false },
      },
      true,
    );
    if (positionals.length > 0)
      throw new CliError(`unexpected argument ${positionals[0]}`, EXIT.usage, 'see biobank serve --help');
    const port = Number(values.port);
    if (!/^[0-9]+$/.test(values.port) || port > 65535)
      throw new CliError(`--port must be a number from 0 to 65535, got ${values.port}`, EXIT.usage);
    const config = loadConfig();
    let viewer: Awaited<ReturnType<typeof startViewer>>;
    try {
      viewer = await startViewer(config, { port, host: values.host, noSuppress: values['no-suppress'] });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE')
        throw new CliError(
          `port ${port} is already in use`,
          EXIT.unavailable,
          'pick another with --port N (or --port 0)',
        );
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
        throw new CliError(`cannot bind address ${values.host}`, EXIT.usage, 'use --host 127.0.0.1');
      if (code === 'EACCES')
        throw new CliError(`not allowed to bind port ${port}`, EXIT.unavailable, 'use a port above 1023');
      throw err;
    }
    console.log(`biobank viewer on ${viewer.url}  (database ${config.database}, read-only; Ctrl-C to stop)`);
    if (values.host !== '127.0.0.1' && values.host !== 'localhost' && values.host !== '::1')
      console.warn(`warning: listening on ${values.host}: other machines can reach these results`);
    if (values['no-suppress']) console.warn('warning: person counts are NOT suppressed');
    return new Promise<number>((resolve) => {
      const stop = () => {
        void viewer.close().then(() => resolve(EXIT.ok));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
