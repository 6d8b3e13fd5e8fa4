#!/usr/bin/env node
import { quietOnClosedStdout, reportError } from '@jetpack/shared/cli';
import { main } from './command.js';

quietOnClosedStdout('jetpack');
let code: number;
try {
  const r = await main(process.argv.slice(2));
  if ('human' in r && r.human !== undefined) {
    if (r.human !== '') process.stdout.write(`${r.human}\n`);
  } else if ('json' in r) process.stdout.write(`${JSON.stringify(r.json, null, 2)}\n`);
  code = r.status ?? 0;
} catch (err) {
  code = reportError('jetpack', err);
}
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
