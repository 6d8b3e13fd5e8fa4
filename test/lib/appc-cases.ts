/**
 * AC Identifiers that must be accepted (appc schema/types/acidentifier_test.go, plus rkt's
 * examples), shared by the names and the manifest-validation tests.
 */
export const GOOD_AC_IDENTIFIERS: readonly string[] = [
  'asdf',
  'foo-bar-baz',
  'zab_rab_oof',
  'database',
  'my~database',
  'example.com/database',
  'example.com/~bob/database',
  'example.com/ourapp-1.0.0',
  'sub-domain.example.com/org/product/release-1.0.0',
  'sub-domain.example.com/org/product/~alice/release-1.0.0',
];
