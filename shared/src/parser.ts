/**
 * The command-line parser of Jetpack's commands: yargs, set up the Jetpack way (./cli.ts has the
 * rest of a command's edge, without yargs).
 */
import yargs, { type Argv } from 'yargs';
import { goFlags } from './cli.js';
import { errorMessage, JetpackError, usage } from './errors.js';

/** A yargs parser configured the Jetpack way: strict, usage errors thrown as JetpackError('usage'). */
export function parser(
  name: string,
  argv: readonly string[],
  usageText: string,
  opts: { haltAtNonOption?: boolean } = {},
): Argv<{ config: string | undefined }> {
  return yargs(goFlags(argv))
    .scriptName(name)
    .usage(usageText)
    .option('config', { type: 'string', describe: 'configuration file (default: $JETPACK_CONF, then /etc/jetpack.conf)' })
    .strictOptions()
    .version(false)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    // A UUID prefix such as 1799e4 or 012345 is a name, never a number (yargs would read 17990000, 12345).
    .parserConfiguration({ 'halt-at-non-option': opts.haltAtNonOption ?? false, 'greedy-arrays': false, 'parse-positional-numbers': false })
    .fail((msg: string | undefined, err: Error | undefined) => {
      if (err instanceof JetpackError) throw err;
      throw usage(`${msg ?? errorMessage(err)} (see ${name} --help)`);
    });
}
