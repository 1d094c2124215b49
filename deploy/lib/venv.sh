# A Python virtualenv under target/ with one pinned package from PyPI, for
# the scripts that need a Python tool (fuzz.sh: schemathesis; soak.sh:
# matplotlib). Installs python3-venv when missing (as root). Source it,
# then: venv_with DIR PACKAGE==VERSION PROBE, where PROBE is a command
# run with the venv's python that succeeds once the package is there.
venv_with() {
    local dir=$1 package=$2 probe=$3
    if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$probe" 2>/dev/null; then
        return 0
    fi
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        [ "$(id -u)" -eq 0 ] || { echo "python3-venv is missing: apt-get install python3-venv" >&2; return 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
    fi
    echo "installing $package into $dir" >&2
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q "$package"
}
