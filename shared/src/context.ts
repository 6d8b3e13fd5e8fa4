/**
 * The configuration and store a command works on, from `--config` / `$JETPACK_CONF` / the default.
 */
import { loadConfig, type Config } from './config.js';
import { Store } from './store/store.js';

/** Load the configuration named by a command's `--config` option (or the usual fallbacks). */
export function config(args: { config?: string | undefined }): Config {
  return loadConfig(args.config);
}

/** Open the store for a command (checks it is initialised). */
export async function openStore(args: { config?: string | undefined }): Promise<Store> {
  return Store.open(config(args));
}
