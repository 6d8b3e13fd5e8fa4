/**
 * jetpack — the everyday interface, with the original jetpack's words, aliases and output formats,
 * over the Jetpack commands (each also an executable of its own that prints JSON):
 *
 *   jetpack [-config=PATH] [-json] init | info | test | gc
 *   jetpack image list [QUERY] | image import ARCHIVE [MANIFEST]
 *   jetpack image IMAGE build [-dir=.] [-cp=PATH...] COMMAND... | show | export [PATH] | destroy
 *   jetpack pod list | pod create [FLAGS] IMAGE [IMAGE FLAGS] [IMAGE [IMAGE FLAGS]...]
 *   jetpack pod POD show | run | console [USER] | ps|top|killall [OPTIONS...] | kill | destroy
 *   aliases: i|img = image, p = pod, images = image list, pods = pod list,
 *            `image show IMAGE` = `image IMAGE show` (likewise build, export, destroy; and for pods)
 *
 * Each verb runs the matching command's main in-process (no second Node start-up) and prints its
 * result in the human format of ../../shared/src/format.ts, or its JSON with -json.
 */
import { goFlags, type CommandMain, type CommandResult } from '@jetpack/shared/cli';
import { loadConfig } from '@jetpack/shared/config';
import { JetpackError, usage } from '@jetpack/shared/errors';
import { formatInfo } from '@jetpack/shared/format';
import { mdsStatus } from '@jetpack/shared/mds';
import { Store } from '@jetpack/shared/store/store';

export const VERSION = '0.1.0';

export const HELP = `Usage: jetpack [OPTIONS] COMMAND...
Options:
  -config=PATH  Configuration file (default: $JETPACK_CONF, then /etc/jetpack.conf,
                or /usr/local/etc/jetpack.conf on FreeBSD)
  -json         Print the commands' JSON instead of the human-readable format
  -help, -h     Display this help screen
Commands:
  help                                    Display this help screen
  init                                    Initialize host (create the store)
  info                                    Show global information
  test                                    Run the smoke test (as root, in a throw-away store)
  gc                                      Remove what interrupted commands left behind
  image list [QUERY]                      List images
  image import ARCHIVE [MANIFEST]         Import image from an archive
  image IMAGE build [OPTIONS] COMMAND...  Build new image from an existing one
                    -dir=.                Location of build directory on host
                    -cp=PATH...           Copy additional files from host
  image IMAGE show                        Display image details
  image IMAGE export [PATH]               Export image to an ACI file
                    -compression=xz       xz, gzip, bzip2 or none
                                          Output to stdout if no PATH given
  image IMAGE destroy                     Destroy image
  pod list                                List pods
  pod create [FLAGS] IMAGE [IMAGE FLAGS] [IMAGE [IMAGE FLAGS] ...]
                                          Create new pod from image
             -help                        Show detailed help
  pod POD show                            Display pod details
  pod POD run [-net=private|host]         Run pod's application
  pod POD console [USER]                  Open console inside the pod
                  -app=NAME               App to open it in (default: the first)
  pod POD ps|top|killall [OPTIONS...]     Manage pod's processes
  pod POD kill                            Kill running pod
               -timeout=10                Seconds between SIGTERM and SIGKILL
  pod POD destroy                         Destroy pod
                  -f                      Kill it first if it runs
Needs Explanation:
  ARCHIVE, MANIFEST  May be filesystem paths, URLs, or - for stdin.
            cp=PATH  This option can be given multiple times
              QUERY  Is an expression that looks like this:
                      - NAME[,LABEL=VALUE[,LABEL=VALUE[,...]]]
                      - NAME:VERSION (alias for NAME,version=VERSION)
              IMAGE  Can be:
                      - an UUID (XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX),
                        or an unambiguous prefix of one,
                      - a checksum (sha512-...), or a prefix of one, or
                      - a QUERY (which can't be ambiguous).
                POD  A pod UUID, or an unambiguous prefix of one
Helpful Aliases:
  i|img ... -- image ...
  p ... -- pod ...
  image, images -- image list
  pod, pods -- pod list
  image build|show|export|destroy IMAGE ... -- image IMAGE build|show|... ...
  pod show|run|console|ps|top|killall|kill|destroy POD ... -- pod POD show|run|... ...`;

/** Where each command's main lives (loaded on demand to keep start-up small). */
const COMMANDS: Record<string, () => Promise<CommandMain>> = {
  'aci-import': async () => (await import('@jetpack/aci-import')).main,
  'aci-export': async () => (await import('@jetpack/aci-export')).main,
  'image-list': async () => (await import('@jetpack/image-list')).main,
  'image-show': async () => (await import('@jetpack/image-show')).main,
  'image-destroy': async () => (await import('@jetpack/image-destroy')).main,
  'image-build': async () => (await import('@jetpack/image-build')).main,
  'pod-create': async () => (await import('@jetpack/pod-create')).main,
  'pod-list': async () => (await import('@jetpack/pod-list')).main,
  'pod-show': async () => (await import('@jetpack/pod-show')).main,
  'pod-destroy': async () => (await import('@jetpack/pod-destroy')).main,
  'jail-run': async () => (await import('@jetpack/jail-run')).main,
  'pod-ps': async () => (await import('@jetpack/pod-ps')).main,
  'pod-top': async () => (await import('@jetpack/pod-top')).main,
  'pod-killall': async () => (await import('@jetpack/pod-killall')).main,
  'pod-kill': async () => (await import('@jetpack/pod-kill')).main,
  'pod-console': async () => (await import('@jetpack/pod-console')).main,
  'store-gc': async () => (await import('@jetpack/store-gc')).main,
};

const IMAGE_VERBS = ['build', 'show', 'export', 'destroy'];
const POD_VERBS = ['show', 'run', 'console', 'ps', 'top', 'killall', 'kill', 'destroy'];

/** A resolved invocation: which command, with which arguments. */
export interface Invocation {
  command: string;
  args: string[];
}

/**
 * Translate the jetpack words into a command invocation (pure; exported for tests).
 * @throws JetpackError('usage') for unknown words
 */
export function translate(words: readonly string[]): Invocation {
  const [first, ...rest] = words;
  switch (first) {
    case undefined:
    case 'help':
      return { command: 'help', args: [] };
    case 'init':
    case 'info':
    case 'test':
      return { command: first, args: rest };
    case 'gc':
      return { command: 'store-gc', args: rest };
    case 'images':
      return { command: 'image-list', args: rest };
    case 'pods':
      return { command: 'pod-list', args: rest };
    case 'image':
    case 'img':
    case 'i':
      return translateImage(rest);
    case 'pod':
    case 'p':
      return translatePod(rest);
    default:
      throw usage(`Unknown command "${first}" (see jetpack help)`);
  }
}

function translateImage(words: readonly string[]): Invocation {
  let [a, b, ...rest] = words;
  if (a === undefined || a === 'list') return { command: 'image-list', args: b === undefined ? [] : [b, ...rest] };
  if (a === 'import') return { command: 'aci-import', args: b === undefined ? [] : [b, ...rest] };
  if (IMAGE_VERBS.includes(a)) {
    if (b === undefined) throw usage(`image ${a}: needs an IMAGE`);
    [a, b] = [b, a];
  }
  const image = a;
  switch (b ?? 'show') {
    case 'show':
      return { command: 'image-show', args: [image, ...rest] };
    case 'destroy':
      return { command: 'image-destroy', args: [image, ...rest] };
    case 'export':
      return { command: 'aci-export', args: [image, ...rest] };
    case 'build': {
      // image-build takes its options before IMAGE, so that COMMAND's own flags stay COMMAND's.
      const opts: string[] = [];
      while (rest[0] !== undefined && /^--?(dir|cp)(=|$)/.test(rest[0])) {
        const o = rest.shift() as string;
        opts.push(o);
        if (!o.includes('=') && rest[0] !== undefined) opts.push(rest.shift() as string);
      }
      return { command: 'image-build', args: [...opts, image, ...rest] };
    }
    default:
      throw usage(`image ${image} ${b}: unknown image command (build, show, export, destroy)`);
  }
}

function translatePod(words: readonly string[]): Invocation {
  let [a, b, ...rest] = words;
  if (a === undefined || a === 'list') return { command: 'pod-list', args: b === undefined ? [] : [b, ...rest] };
  if (a === 'create') return { command: 'pod-create', args: b === undefined ? [] : [b, ...rest] };
  if (POD_VERBS.includes(a)) {
    if (b === undefined) throw usage(`pod ${a}: needs a POD`);
    [a, b] = [b, a];
  }
  const pod = a;
  switch (b ?? 'show') {
    case 'show':
      return { command: 'pod-show', args: [pod, ...rest] };
    case 'run':
      return { command: 'jail-run', args: [...rest, pod] };
    case 'ps':
    case 'top':
    case 'killall':
      // OPTIONS after POD are ps(1)'s, top(1)'s, killall(1)'s: passed on as they are.
      return { command: `pod-${b}`, args: [pod, ...rest] };
    case 'console':
      return { command: 'pod-console', args: optionsFirst(pod, rest, ['app'], []) };
    case 'kill':
      return { command: 'pod-kill', args: optionsFirst(pod, rest, ['timeout'], []) };
    case 'destroy':
      return { command: 'pod-destroy', args: optionsFirst(pod, rest, [], ['f', 'force']) };
    default:
      throw usage(`pod ${pod} ${b}: unknown pod command (${POD_VERBS.join(', ')})`);
  }
}

/**
 * The command's own options first, then POD and the other words: `pod POD kill -timeout=3` becomes
 * `pod-kill -timeout=3 POD`, since the Go spelling (-timeout=3) is only understood before the
 * first argument (cli.ts goFlags). `valued` options take a value (`-app=web` or `-app web`).
 */
function optionsFirst(pod: string, rest: readonly string[], valued: readonly string[], flags: readonly string[]): string[] {
  const opts: string[] = [];
  const words: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    const m = /^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$/.exec(a);
    if (m !== null && valued.includes(m[1] as string)) {
      opts.push(a);
      if (m[2] === undefined && rest[i + 1] !== undefined) opts.push(rest[++i] as string);
    } else if (m !== null && m[2] === undefined && flags.includes(m[1] as string)) opts.push(a);
    else words.push(a);
  }
  return [...opts, pod, ...words];
}

/** The wrapper's main: global options, then the words. */
export async function main(argv: string[]): Promise<CommandResult> {
  const words = goFlags(argv);
  let json = false;
  while (words[0]?.startsWith('-') && words[0] !== '-') {
    const opt = words.shift() as string;
    const m = /^--config(?:=(.*))?$/.exec(opt);
    if (m) {
      const path = m[1] ?? words.shift();
      if (path === undefined) throw usage('-config needs a PATH');
      process.env['JETPACK_CONF'] = path;
    } else if (opt === '--json') json = true;
    else if (opt === '--help' || opt === '-h') words.unshift('help');
    else throw usage(`unknown option ${opt} (see jetpack help)`);
    if (words[0] === 'help') break;
  }
  const inv = translate(words);
  if (inv.command === 'help') {
    process.stderr.write(`${HELP}\n`);
    return { status: 0 };
  }
  if (inv.command === 'init' || inv.command === 'info') {
    if (inv.args.length > 0) throw usage(`${inv.command} takes no arguments, got ${inv.args.join(' ')}`);
    const config = loadConfig();
    const store = new Store(config);
    if (inv.command === 'init') await store.driver.init();
    else await store.driver.check();
    const mds = await mdsStatus(config);
    const info = { version: VERSION, config: config.path, store: { driver: store.driver.kind, root: store.layout.root }, mds, values: Object.fromEntries(config.values) };
    const mdsLine: [string, string] = [
      'Metadata service',
      mds.up ? `up at ${mds.url ?? '?'} (pid ${mds.pid ?? '?'})` : `${mds.error ?? 'not running'}; start it with metadata-service`,
    ];
    return json ? { json: info } : { json: info, human: formatInfo(VERSION, [...store.driver.describe(), mdsLine], config) };
  }
  if (inv.command === 'test') {
    const { smokeTest } = await import('./smoke.js');
    const failed = await smokeTest((line) => process.stdout.write(`${line}\n`));
    return { status: failed === 0 ? 0 : 1 };
  }
  const load = COMMANDS[inv.command];
  if (load === undefined) throw new JetpackError('internal', `no command ${inv.command}`);
  const r = await (await load())(inv.args);
  if (json && 'json' in r) return r.status === undefined ? { json: r.json } : { json: r.json, status: r.status };
  return r;
}
