# shellcheck shell=bash
# Shared by the CI scripts that run the release binary (sourced, not run; needs $ROOT, the
# repository): sets QNET to $QNET as given (made absolute), else to the release build in
# $CARGO_TARGET_DIR (relative to $ROOT), else target/. Returns 1 if that is not an
# executable, so that the caller can report it its own way.
if [[ -n ${QNET:-} ]]; then
    QNET=$(realpath -m -- "$QNET")
else
    target=${CARGO_TARGET_DIR:-target}
    [[ $target == /* ]] || target=$ROOT/$target
    QNET=$target/release/qnet-exp
fi
[[ -x $QNET ]]
