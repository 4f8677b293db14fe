# Shared by bench/run.sh and bench/scale.sh (sourced; expects $repo set).

# Builds the release binary and sets $bin to it.
build_release() {
    echo "bench: building release binary" >&2
    (cd "$repo" && cargo build --release --locked)
    local target_dir=${CARGO_TARGET_DIR:-target}
    [[ $target_dir == /* ]] || target_dir="$repo/$target_dir"
    bin="$target_dir/release/hermes-relayhost"
    [[ -x $bin ]] || { echo "bench: no binary at $bin" >&2; exit 1; }
}

# Base64 of AES-256-ECB/PKCS#7 of $2 under the hex key $1, as Hermes stores credentials.
encrypt() {
    printf '%s' "$2" | openssl enc -aes-256-ecb -K "$1" | base64 -w0
}

# A fresh root from `init` in $1/root (base args in $1/base.json), aged, and ten credential
# pairs encrypted under its key in $1/creds.txt. Postfix (dict_load_file) re-reads a main.cf
# every 0.3 s until its mtime is ~2 s old, so a postmap right after `init` would stall: the
# fresh files are aged, as on a real host.
make_root() {
    local dir=$1 keyhex
    mkdir -p "$dir"
    "$bin" init --root "$dir/root" >"$dir/base.json"
    find "$dir/root" -type f -exec touch -d '1 hour ago' {} +
    keyhex=$(base64 -d "$dir/root/opt/hermes/keys/hermes.key" | od -An -v -tx1 | tr -d ' \n')
    [[ ${#keyhex} == 64 ]] || { echo "bench: unexpected key in $dir/root" >&2; exit 1; }
    : >"$dir/creds.txt"
    for i in $(seq 0 9); do
        printf '%s %s\n' "$(encrypt "$keyhex" "user$i@example.net")" \
            "$(encrypt "$keyhex" "pw-$i-Secret")" >>"$dir/creds.txt"
    done
}
