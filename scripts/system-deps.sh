# Sourced by scripts/test.sh and .ci/run: makes sure the Debian packages of
# scripts/system-packages.txt are here. Missing ones are installed with apt-get when this runs as
# root or with password-less sudo; otherwise it stops at once, printing the apt-get line to run.
# (Rust itself comes from rustup, not apt: Debian 12's rustc is older than rust-version.)

# Prints the packages of the list whose check fails, on one line.
lmbatch_missing_packages() {
  local list name check missing=()
  list="$(dirname "${BASH_SOURCE[0]}")/system-packages.txt"
  while read -r name check; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    if [[ -n "$check" ]]; then
      (eval "$check") >/dev/null 2>&1 && continue
    else
      dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'ok installed' && continue
    fi
    missing+=("$name")
  done <"$list"
  echo "${missing[*]}"
}

# Installs what is missing, or exits 1 with the command that would.
lmbatch_ensure_system_packages() {
  local missing as_root=() stop=0
  missing="$(lmbatch_missing_packages)"
  if [[ -n "$missing" && "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      echo "error: missing Debian packages: $missing" >&2
      echo "(not root and no password-less sudo, so they cannot be installed from here). As root, run:" >&2
      echo "  apt-get update && apt-get install -y $missing" >&2
      stop=1
    fi
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not on the PATH; install Rust stable with rustup (https://rustup.rs)" >&2
    stop=1
  fi
  [[ "$stop" -eq 0 ]] || exit 1
  [[ -z "$missing" ]] && return 0
  echo "installing Debian packages: $missing"
  # shellcheck disable=SC2086 # one word per package
  "${as_root[@]}" apt-get update -qq &&
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq -o DPkg::Lock::Timeout=300 $missing
  missing="$(lmbatch_missing_packages)"
  if [[ -n "$missing" ]]; then
    echo "error: still missing after apt-get: $missing" >&2
    exit 1
  fi
}
