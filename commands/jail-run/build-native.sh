#!/bin/sh
# The launchers, built with the system's C compiler: on Linux jetpack-stage1 (the pod launcher) and
# jetpack-stage2-test (FreeBSD's jetpack-stage2 in its host-test build, for test/stage2.test.ts);
# on FreeBSD jetpack-stage2 itself (install it as /usr/local/libexec/jetpack/jetpack-stage2).
set -eu
cd "$(dirname "$0")"
mkdir -p dist
flags="-O2 -Wall -Wextra -Werror"
case "$(uname -s)" in
  FreeBSD)
    cc $flags -o dist/jetpack-stage2 src/stage2.c -ljail ;;
  *)
    cc $flags -o dist/jetpack-stage1 src/stage1.c
    cc $flags -DJETPACK_STAGE2_HOST_TEST -o dist/jetpack-stage2-test src/stage2.c ;;
esac
