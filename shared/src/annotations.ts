/**
 * Jetpack's own annotations, which it sets and reads on pods and apps. Apart from ./podspec.ts so
 * that what only needs their names (pod-create's flag checks) does not load the pod manifest's
 * validation with them.
 */

/** The pod annotation the runner and the address allocator read: `host` shares the host's network. */
export const NETWORK_ANNOTATION = 'jetpack/network';
/** The app annotation naming the image's storage UUID. */
export const IMAGE_UUID_ANNOTATION = 'jetpack/image-uuid';
