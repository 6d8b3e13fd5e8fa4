/**
 * The jetpack wrapper keeps the original's words and aliases; configuration parsing and lookup.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { translate } from '../commands/jetpack/src/command.js';
import { goFlags } from '../shared/src/cli.js';
import { loadConfig, parseConfig } from '../shared/src/config.js';
import { parseQuery } from '../shared/src/query.js';
import { tempDir } from './lib/fixtures.js';

t.test('words and aliases', async (t) => {
  const cases: Array<[string[], string, string[]]> = [
    [['images'], 'image-list', []],
    [['gc'], 'store-gc', []],
    [['image'], 'image-list', []],
    [['i', 'list', 'foo,os=linux'], 'image-list', ['foo,os=linux']],
    [['img', 'import', 'a.aci', 'm.json'], 'aci-import', ['a.aci', 'm.json']],
    [['image', 'X', 'show'], 'image-show', ['X']],
    [['image', 'X'], 'image-show', ['X']],
    [['image', 'show', 'X'], 'image-show', ['X']],
    [['image', 'destroy', 'X'], 'image-destroy', ['X']],
    [['image', 'X', 'export', 'out.aci'], 'aci-export', ['X', 'out.aci']],
    [['image', 'X', 'build', '-dir=src', '-cp', 'a', 'make', '-j2'], 'image-build', ['-dir=src', '-cp', 'a', 'X', 'make', '-j2']],
    [['image', 'build', 'X', 'true'], 'image-build', ['X', 'true']],
    [['pods'], 'pod-list', []],
    [['p'], 'pod-list', []],
    [['pod', 'create', 'X', '-n', 'web'], 'pod-create', ['X', '-n', 'web']],
    [['pod', 'abc', 'run'], 'jail-run', ['abc']],
    [['pod', 'run', 'abc'], 'jail-run', ['abc']],
    [['p', 'abc'], 'pod-show', ['abc']],
    [['pod', 'abc', 'ps'], 'pod-ps', ['abc']],
    [['pod', 'destroy', 'abc'], 'pod-destroy', ['abc']],
    [['pod', 'abc', 'destroy', '-f'], 'pod-destroy', ['-f', 'abc']],
    [['pod', 'destroy', 'abc', '--force'], 'pod-destroy', ['--force', 'abc']],
    [['pod', 'abc', 'kill'], 'pod-kill', ['abc']],
    [['pod', 'kill', 'abc', '-timeout=3'], 'pod-kill', ['-timeout=3', 'abc']],
    [['pod', 'abc', 'kill', '-timeout', '3'], 'pod-kill', ['-timeout', '3', 'abc']],
    [['pod', 'abc', 'console'], 'pod-console', ['abc']],
    [['pod', 'abc', 'console', 'user'], 'pod-console', ['abc', 'user']],
    [['pod', 'console', 'abc', '-app=web', 'user'], 'pod-console', ['-app=web', 'abc', 'user']],
    [['pod', 'abc', 'ps', '-o', 'pid,comm'], 'pod-ps', ['abc', '-o', 'pid,comm']],
    [['pod', 'top', 'abc', '-b', '-n', '1'], 'pod-top', ['abc', '-b', '-n', '1']],
    [['pod', 'abc', 'killall', '-TERM', 'sleep'], 'pod-killall', ['abc', '-TERM', 'sleep']],
    [['p', 'killall', 'abc', '-s', 'HUP', 'nginx'], 'pod-killall', ['abc', '-s', 'HUP', 'nginx']],
  ];
  for (const [words, command, args] of cases) t.same(translate(words), { command, args }, words.join(' '));
  t.throws(() => translate(['frobnicate']), { kind: 'usage', message: /Unknown command "frobnicate"/ });
  t.throws(() => translate(['image', 'X', 'frob']), { kind: 'usage', message: /unknown image command/ });
});

t.test('Go-style flags become yargs flags, but only before the first argument', async (t) => {
  t.same(goFlags(['-config=/x', '-json', 'pod', 'create', 'img', '-n', 'a']), ['--config=/x', '--json', 'pod', 'create', 'img', '-n', 'a']);
  t.same(goFlags(['-n', 'x', '-dir=.']), ['-n', 'x', '-dir=.']);
  t.same(goFlags(['IMAGE', '-compression=gzip', 'out.aci', '-x']), ['IMAGE', '--compression=gzip', 'out.aci', '-x'], 'known long options anywhere');
  t.same(goFlags(['POD', '--', '-net=host']), ['POD', '--', '-net=host'], 'nothing after --');
});

t.test('queries', async (t) => {
  t.same(parseQuery('example.com/app:1.2,os=linux'), { name: 'example.com/app', labels: new Map([['version', ['1.2']], ['os', ['linux']]]) });
  t.throws(() => parseQuery('app,os'), { kind: 'usage' });
});

t.test('jetpack.conf', async (t) => {
  t.same(parseConfig('# c\n root.dir = /srv/jp \n\nimages.aci.compression=gzip\n', 'f'), [['root.dir', '/srv/jp'], ['images.aci.compression', 'gzip']]);
  t.throws(() => parseConfig('root.dir /x\n', 'f.conf'), { kind: 'config', message: /^f\.conf:1: expected "key = value"/ });
  const dir = tempDir();
  const path = join(dir, 'j.conf');
  writeFileSync(path, 'root.dir = /srv/jp\n');
  const c = loadConfig(path);
  t.equal(c.values.get('root.dir'), '/srv/jp');
  t.equal(c.values.get('images.aci.compression'), 'xz', 'defaults fill the rest');
  t.throws(() => loadConfig(join(dir, 'missing.conf')), { kind: 'config' }, 'a named file must exist');
});

t.test('arguments that look like numbers stay as typed (UUID prefixes such as 1799e4)', async (t) => {
  const { parser } = await import('../shared/src/parser.js');
  for (const word of ['1799e4', '17e9', '123456', '0123', '1e5']) {
    const args = await parser('image-show', [word], 'image-show IMAGE').parse();
    t.same(args._.map(String), [word], `${word} is not read as ${Number(word)}`);
    t.same(translate(['image', word, 'show']).args, [word], `jetpack image ${word} show`);
  }
});
