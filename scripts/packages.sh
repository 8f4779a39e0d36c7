# Sourced by the scripts: need_packages PKG... installs the Debian
# packages that are missing (as root), and fails with the apt-get line
# to run otherwise.
need_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "run as root (or install: apt-get install ${missing[*]})" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # nginx's package starts a system nginx on port 80; this project runs its own.
    if command -v systemctl >/dev/null && systemctl is-active -q nginx 2>/dev/null; then
        systemctl stop nginx || true
    fi
}
