/**
 * Files of this checkout that Jetpack finds at run time (commands/jail-run/dist/jetpack-stage1,
 * shared/package.json and shared/'s dependencies), located from where the running code is.
 *
 * This code runs from three places: tsc's output (shared/dist/checkout.js), its source under the
 * tests (shared/src/checkout.ts), both two directories below the checkout root; and a command's
 * bundle (commands/<name>/dist/bundle/*.mjs, scripts/bundle.mjs), where the bundler defines
 * JETPACK_BUNDLE_ROOT as the way from the bundle's directory up to the root.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Set by scripts/bundle.mjs (esbuild `define`) in a command's bundle; undefined elsewhere. */
declare const JETPACK_BUNDLE_ROOT: string | undefined;

/** The checkout's root directory. */
export const CHECKOUT_ROOT: string = fileURLToPath(new URL(typeof JETPACK_BUNDLE_ROOT === 'string' ? JETPACK_BUNDLE_ROOT : '../../', import.meta.url));

/** A path inside the checkout, from its root: `checkoutPath('shared', 'package.json')`. */
export function checkoutPath(...parts: string[]): string {
  return path.join(CHECKOUT_ROOT, ...parts);
}
