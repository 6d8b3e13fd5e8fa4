/**
 * Compression detection for ACI archives by magic bytes (appc spec/aci.md § "Image Archives";
 * appc `aci/file.go` DetectFileType, summarised in docs/appc-spec-notes.md § 1 "Compression detection").
 *
 * An ACI is a tar, optionally compressed with gzip, bzip2 or xz. The kind is decided by the first
 * bytes only, never by the file name:
 *
 * | kind    | magic                                      |
 * |---------|--------------------------------------------|
 * | `gzip`  | `1f 8b` at offset 0                        |
 * | `bzip2` | `42 5a 68` ("BZh") at offset 0             |
 * | `xz`    | `fd 37 7a 58 5a 00` at offset 0            |
 * | `none`  | `75 73 74 61 72` ("ustar") at offset 257   |
 *
 * Anything else (a pre-POSIX V7 tar without the ustar magic, zstd, PGP-encrypted data, a manifest
 * given where an archive was expected, an empty file) is refused, as actool does.
 */
import { invalid } from '../errors.js';

/** How an ACI (or a rootfs tarball) is compressed. `none` is a plain ustar/PAX/GNU tar. */
export type Compression = 'gzip' | 'bzip2' | 'xz' | 'none';

/** The number of leading bytes {@link detectCompression} needs to see to recognise every kind (a tar's magic ends at byte 262). */
export const DETECT_BYTES = 512;

const GZIP = Buffer.from([0x1f, 0x8b]);
const BZIP2 = Buffer.from('BZh', 'latin1');
const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const USTAR = Buffer.from('ustar', 'latin1');
const USTAR_OFFSET = 257;

const startsWith = (head: Buffer, magic: Buffer, offset = 0): boolean =>
  head.length >= offset + magic.length && head.subarray(offset, offset + magic.length).equals(magic);

/**
 * Decide the compression of a stream from its first bytes.
 *
 * @param head the first bytes of the stream: at least 262 for a plain tar to be recognised, ideally
 *   {@link DETECT_BYTES}; fewer is fine for the compressed kinds (the whole stream if it is shorter).
 * @param what how to name the input in the error message (the location, e.g. a path or URL).
 * @returns `'gzip' | 'bzip2' | 'xz' | 'none'`, checked in that order (as appc's DetectFileType does).
 * @throws JetpackError('invalid') `<what>: not a tar, gzip, bzip2 or xz stream` for anything else.
 */
export function detectCompression(head: Buffer, what = 'archive'): Compression {
  if (startsWith(head, GZIP)) return 'gzip';
  if (startsWith(head, BZIP2)) return 'bzip2';
  if (startsWith(head, XZ)) return 'xz';
  if (startsWith(head, USTAR, USTAR_OFFSET)) return 'none';
  throw invalid(`${what}: not a tar, gzip, bzip2 or xz stream`);
}
