/**
 * Types for `unbzip2-stream` 1.4.3 (pure-JS streaming bzip2 decoder; ships no types).
 *
 * The module's export is a factory returning a classic `through` stream: write compressed bytes
 * in, read decompressed bytes out. Concatenated bzip2 streams are decoded as one. Corrupt or
 * truncated input is reported as an 'error' event. It is an old-style stream (not a streams3
 * Readable), so wrap it with `new Readable().wrap(s)` before async iteration.
 */
declare module 'unbzip2-stream' {
  /** A `through` stream: writable (compressed in) and readable (decompressed out). */
  interface ThroughStream extends NodeJS.ReadWriteStream {
    paused: boolean;
    destroy(): void;
  }

  function unbzip2Stream(): ThroughStream;
  export default unbzip2Stream;
}
