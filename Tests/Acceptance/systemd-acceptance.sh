#!/usr/bin/env bash
# The shipped systemd unit and timer, installed as README.md says into a fresh Debian 12 booted
# with systemd-nspawn, run against honest, hostile, ignored, loop-mounted and unmounted-image
# runners (Tests/Acceptance/README.md). Needs root, debootstrap, systemd-container, python3 and
# the production build (.build/release). Prints `ok - NAME` or `not ok - NAME: detail` per check
# and ends with `acceptance: N passed, M failed`; exits 1 when any check failed.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/Tests/Acceptance
CACHE=${RUNNER_METRICS_ACCEPTANCE_CACHE:-/var/cache/runner-metrics-acceptance}
BULK=${RUNNER_METRICS_ACCEPTANCE_BULK:-3000}
SUITE=bookworm
# What the tool and the test need in the container, beyond minbase: systemd as PID 1, mount
# and losetup, mkfs.ext4, flock, and the shared libraries of the build's three binaries (checked
# with ldd in the container; runner-metrics-github links libssl3's libssl.so.3 and
# libcrypto.so.3). The cache's name carries a digest of this list, so a change rebuilds it.
PACKAGES=systemd,systemd-sysv,dbus,util-linux,e2fsprogs,mount,libseccomp2,libext2fs2,libcom-err2,libstdc++6,libgcc-s1,libssl3,man-db
FLAVOR=acceptance-small
IGNORE_FILE=/var/lib/runner-metrics-active/runners
# The textfile directory is absent (the tool creates it); its parent is there, as on a host with
# Prometheus' packages (the tool makes only the last component).
TEXTFILE_DIR=/var/lib/prometheus/node-exporter
SRC=/usr/src/runner-metrics                # the repository, bound read-only into the container
STAGE_CT=/root/acceptance-stage            # image contents, before they are copied into images
STAGING_CT=/home/ubuntu/acceptance-staging # later runners, renamed into runner-fs when complete
METRICS_LOG=/var/log/github-runner-metrics.log
AUDIT_LOG=/var/log/github-runner-metrics-audit.log

# The README's install block (section "Running it on a schedule"), one element a line. The
# check "readme install steps" fails when the README says anything else, so the two are kept
# in sync. install_as_readme runs them in order in the container, from the source tree; a line
# that enables the timer is run later, by start_timer_as_readme, so that the service's first
# start is the test's and not a tick racing the layout.
README_INSTALL=(
'install -m 0755 .build/release/runner-metrics .build/release/runner-metrics-worker .build/release/runner-metrics-github /usr/local/bin/   # side by side'
'install -m 0644 Security/systemd/runner-metrics.service Security/systemd/runner-metrics.timer /etc/systemd/system/'
'install -m 0644 Security/systemd/runner-metrics.default /etc/default/runner-metrics   # then edit it'
'install -m 0644 Security/logrotate/runner-metrics-audit /etc/logrotate.d/'
'install -d -m 0755 /usr/local/share/doc/runner-metrics && install -m 0644 README.md Security/*.md /usr/local/share/doc/runner-metrics/'
'systemctl daemon-reload && systemctl enable --now runner-metrics.timer'
)

passed=0
failed=0
declare -A PASSED=()   # the names of the checks that passed
started=$(date +%s)
WORK=""
NSPAWN_PID=""
INIT_PID=""
BUILD_TMP=""
FAKE_PID=""
OUTSIDE_PID=""

ok() { echo "ok - $1"; passed=$((passed + 1)); PASSED[$1]=1; }
not_ok() { echo "not ok - $1: $2"; failed=$((failed + 1)); }
one_line() { tr '\n' ';' | sed 's/;*$//'; }
# check NAME COMMAND...: the command's exit status decides; its output is the detail.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$(one_line <<<"$out")"; fi
}
# A check that something did not happen proves nothing when the run it follows failed: it is
# reported as failed then. check_after STEP NAME COMMAND...: STEP is the name of an earlier check.
check_after() {
    local step=$1
    shift
    if [ -z "${PASSED[$step]:-}" ]; then not_ok "$1" "not checked: \"$step\" failed"; else check "$@"; fi
}
summary() {
    echo "acceptance: run time $(( $(date +%s) - started )) s"
    echo "acceptance: $passed passed, $failed failed"
}
# A failure the rest cannot run without: counted, then the run ends (cleanup runs from the trap).
abort() {
    not_ok "$1" "$2"
    summary
    exit 1
}

# --- The cached root ---------------------------------------------------------------------------

# The Debian mirror this machine's apt uses, from sources.list and deb822 .sources files.
apt_mirror() {
    python3 - "$SUITE" <<'EOF'
import glob, sys
suite = sys.argv[1]
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = line.split("#")[0].split()
        if words[:1] == ["deb"]:
            words = [w for w in words[1:] if not w.startswith("[")]
            if len(words) >= 2 and words[1] == suite:
                print(words[0]); sys.exit(0)
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(path).read().split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and suite in fields.get("suites", []) \
                and fields.get("enabled", ["yes"]) != ["no"] and fields.get("uris"):
            print(fields["uris"][0]); sys.exit(0)
sys.exit("no deb source for " + suite + " in /etc/apt")
EOF
}

ensure_root() {
    local key
    key=$(printf '%s minbase %s\n' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
    ROOT_CACHE=$CACHE/$SUITE-minbase-$key
    [ -d "$ROOT_CACHE" ] && return 0
    local mirror
    mirror=$(apt_mirror) || return 1
    mkdir -p "$CACHE" || return 1
    BUILD_TMP=$(mktemp -d "$CACHE/.build.XXXXXX") || return 1
    echo "# building $ROOT_CACHE with debootstrap from $mirror" >&2
    if ! timeout 1200 debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" \
            "$BUILD_TMP/root" "$mirror" >"$BUILD_TMP/log" 2>&1; then
        tail -5 "$BUILD_TMP/log"
        return 1
    fi
    rm -f "$BUILD_TMP"/root/var/cache/apt/archives/*.deb
    # Atomic: a concurrent run that finished first has made the directory; ours is dropped.
    mv -T "$BUILD_TMP/root" "$ROOT_CACHE" 2>/dev/null || [ -d "$ROOT_CACHE" ]
    rm -rf --one-file-system "$BUILD_TMP"
    BUILD_TMP=""
}

# --- The container -------------------------------------------------------------------------------

in_ct() {
    timeout --kill-after=5 "${CT_TIMEOUT:-120}" nsenter -t "$INIT_PID" -a -- /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"
}

# wait_for SECONDS COMMAND...: polls every $POLL (0.1) s until the command succeeds.
wait_for() {
    local deadline=$(( $(date +%s%N) + $1 * 1000000000 ))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep "${POLL:-0.1}"
    done
}

system_running() {
    local state
    state=$(in_ct systemctl is-system-running 2>/dev/null)
    [ "$state" = running ] || [ "$state" = degraded ]
}

boot() {
    cp -a --reflink=auto "$ROOT_CACHE" "$COPY" || return 1
    systemd-nspawn --boot -D "$COPY" --register=no --keep-unit --console=passive \
        --machine="rm-acceptance-$$" --bind-ro="$REPO:$SRC" >"$WORK/nspawn.log" 2>&1 &
    NSPAWN_PID=$!
    # The container's init is a child of systemd-nspawn; so, for a moment, is nspawn's own
    # set-up child, which is not systemd and exits.
    local i pid
    INIT_PID=""
    for i in $(seq 1 300); do
        for pid in $(pgrep -P "$NSPAWN_PID"); do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] && INIT_PID=$pid
        done
        [ -n "$INIT_PID" ] && break
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$INIT_PID" ] || { echo "no systemd under systemd-nspawn"; tail -3 "$WORK/nspawn.log"; return 1; }
    wait_for 90 system_running || { echo "is-system-running: $(in_ct systemctl is-system-running)"; return 1; }
}

# The loop devices of this run: the images' (device, inode), recorded when each image is made.
# Loop devices are the host's; another container's may show the very same backing path, so a
# device is ours only by the inode of its backing file.
our_loop_devices() {
    [ -s "$WORK/images" ] || return 0
    losetup -l -n -O NAME,BACK-MAJ:MIN,BACK-INO,BACK-FILE 2>/dev/null |
        awk 'NR == FNR { own[$2 " " $3] = 1; next } ($2 " " $3) in own' "$WORK/images" -
}

cleanup() {
    set +e
    [ -n "${LOCK_JOB:-}" ] && kill "$LOCK_JOB" 2>/dev/null
    [ -n "$FAKE_PID" ] && { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
    [ -n "$OUTSIDE_PID" ] && { kill "$OUTSIDE_PID" 2>/dev/null; wait "$OUTSIDE_PID" 2>/dev/null; }
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill -TERM "$NSPAWN_PID"   # nspawn shuts the container down cleanly on SIGTERM
        local i
        for i in $(seq 1 300); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$NSPAWN_PID" 2>/dev/null && kill -KILL "$NSPAWN_PID"
        wait "$NSPAWN_PID" 2>/dev/null
    fi
    if [ -n "$WORK" ]; then
        local dev
        for dev in $(our_loop_devices | awk '{ print $1 }'); do losetup -d "$dev"; done
        for dev in $(losetup -l -n -O NAME,BACK-FILE | awk -v p="$WORK/" 'index($2, p) == 1 { print $1 }'); do
            losetup -d "$dev"
        done
        findmnt -rn -o TARGET | awk -v p="$WORK/" 'index($0, p) == 1' | sort -r |
            while read -r target; do umount -l "$target"; done
        rm -rf --one-file-system "$WORK"
    fi
    [ -n "$BUILD_TMP" ] && rm -rf --one-file-system "$BUILD_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The Debian package ------------------------------------------------------------------------

# What the README's steps installed goes, with the test's timer drop-in (the package's timer is
# checked as shipped); the results drop-in stays.
remove_readme_install() {
    in_ct sh -ec 'systemctl disable --now runner-metrics.timer
        rm -rf /etc/systemd/system/runner-metrics.timer.d /usr/local/share/doc/runner-metrics
        rm -f /usr/local/bin/runner-metrics /usr/local/bin/runner-metrics-worker /usr/local/bin/runner-metrics-github \
            /etc/default/runner-metrics \
            /etc/systemd/system/runner-metrics.service /etc/systemd/system/runner-metrics.timer \
            /etc/logrotate.d/runner-metrics-audit
        systemctl daemon-reload'
}

package_installed() {
    local out
    in_ct rm -f "$RESULTS"
    out=$(CT_TIMEOUT=300 in_ct dpkg -i "$1" 2>&1) || { one_line <<<"$out"; return 1; }
    [ "$(in_ct dpkg-query -W -f '${Status}' runner-metrics)" = "install ok installed" ]
}

package_command() {
    local real version want
    real=$(in_ct readlink -f /usr/bin/runner-metrics)
    [ "$real" = /usr/libexec/runner-metrics/runner-metrics ] || { echo "/usr/bin/runner-metrics -> $real"; return 1; }
    in_ct test -x /usr/libexec/runner-metrics/runner-metrics-worker || { echo "no fork server beside it"; return 1; }
    in_ct test -x /usr/libexec/runner-metrics/runner-metrics-github || { echo "no runner-metrics-github beside it"; return 1; }
    version=$(in_ct runner-metrics --version)
    want=$("$REPO/.build/release/runner-metrics" --version)
    [ "$version" = "$want" ] || { echo "installed: $version; built: $want"; return 1; }
    in_ct grep -qx "ExecStart=/usr/bin/runner-metrics extract --flavor \${RUNNER_METRICS_FLAVOR} \$RUNNER_METRICS_ARGS" \
        /lib/systemd/system/runner-metrics.service || { echo "the packaged unit does not run /usr/bin/runner-metrics"; return 1; }
}

# The package's Depends name the libraries' packages, libssl3 for runner-metrics-github.
package_depends() {
    local depends
    depends=$(in_ct dpkg-query -W -f '${Depends}' runner-metrics)
    case ", $depends, " in *", libssl3, "*|*", libssl3 ("*) return 0 ;; esac
    echo "Depends: $depends"
    return 1
}

# The network drop-in is shipped as an example only: the packaged unit keeps PrivateNetwork=yes.
package_github_example() {
    in_ct cmp /usr/share/doc/runner-metrics/examples/github-api.conf "$SRC/Security/systemd/github-api.conf" || return 1
    unit_network yes without
}

package_manual() {
    local page
    page=$(in_ct sh -c 'MANWIDTH=200 man -P cat runner-metrics-extract 2>/dev/null') || { echo "man failed"; return 1; }
    grep -q -- "--quarantine-retention-days" <<<"$page" && grep -q "runner-metrics extract" <<<"$page" ||
        { echo "page: $(head -5 <<<"$page" | one_line)"; return 1; }
}

package_upgraded() {
    package_installed "$1" || return 1
    grep -qx "RUNNER_METRICS_FLAVOR=\"$FLAVOR\"" "$COPY/etc/default/runner-metrics" || { echo "the flavor was reset"; return 1; }
    timer_up
}

package_removed() {
    local out
    out=$(CT_TIMEOUT=300 in_ct dpkg -r runner-metrics 2>&1) || { one_line <<<"$out"; return 1; }
    for path in /usr/bin/runner-metrics /usr/libexec/runner-metrics /lib/systemd/system/runner-metrics.service; do
        [ ! -e "$COPY$path" ] && [ ! -L "$COPY$path" ] || { echo "$path left"; return 1; }
    done
    [ "$(in_ct systemctl is-active runner-metrics.timer)" != active ] || { echo "timer still active"; return 1; }
    for path in /etc/default/runner-metrics /var/lib/runner-metrics; do
        [ -e "$COPY$path" ] || { echo "$path gone on removal"; return 1; }
    done
}

package_purged() {
    local out
    out=$(CT_TIMEOUT=300 in_ct dpkg -P runner-metrics 2>&1) || { one_line <<<"$out"; return 1; }
    grep -q "Kept as evidence and history" <<<"$out" || { echo "purge did not say what it keeps"; return 1; }
    for path in /etc/default/runner-metrics /var/lib/runner-metrics /etc/logrotate.d/runner-metrics-audit \
            "$TEXTFILE_DIR/runner-metrics.prom" "$TEXTFILE_DIR/runner-metrics.counters"; do
        [ ! -e "$COPY$path" ] || { echo "$path left by purge"; return 1; }
    done
    for path in "$METRICS_LOG" "$AUDIT_LOG" /home/ubuntu/runner-fs-quarantine; do
        [ -e "$COPY$path" ] || { echo "$path removed by purge"; return 1; }
    done
    ! in_ct dpkg-query -W runner-metrics >/dev/null 2>&1 || [ -z "$(in_ct dpkg-query -W -f '${Status}' runner-metrics 2>/dev/null | grep installed)" ]
}

# --- Install, as README.md says -------------------------------------------------------------

readme_block() {
    awk '/^```/ { if (inblock) { if (want) exit; inblock = 0; n = 0; next } inblock = 1; next }
         inblock { line[++n] = $0; if (index($0, "install -m 0755 .build/release/runner-metrics")) want = 1 }
         END { if (want) for (i = 1; i <= n; i++) print line[i] }' "$REPO/README.md"
}

readme_steps_match() {
    diff <(readme_block) <(printf '%s\n' "${README_INSTALL[@]}") && [ -n "$(readme_block)" ]
}

install_as_readme() {
    local line
    for line in "${README_INSTALL[@]}"; do
        case $line in
            *"enable --now runner-metrics.timer"*) in_ct systemctl daemon-reload || return 1 ;;
            *) in_ct sh -c "cd $SRC && $line" || { echo "failed: $line"; return 1; } ;;
        esac
    done
}

start_timer_as_readme() {
    local line
    for line in "${README_INSTALL[@]}"; do
        case $line in
            *"enable --now runner-metrics.timer"*) in_ct sh -c "cd $SRC && $line" || return 1 ;;
        esac
    done
}

# "then edit it": the flavor, the active runners' file and the textfile, as the default file says.
# configure_defaults [ARGS]: RUNNER_METRICS_ARGS is ARGS (default: $ARGS).
ARGS="--ignore-file $IGNORE_FILE --textfile-dir $TEXTFILE_DIR"
configure_defaults() {
    local args=${1:-$ARGS}
    in_ct sed -i -e "s|^RUNNER_METRICS_FLAVOR=.*|RUNNER_METRICS_FLAVOR=\"$FLAVOR\"|" \
        -e "s|^RUNNER_METRICS_ARGS=.*|RUNNER_METRICS_ARGS=\"$args\"|" \
        /etc/default/runner-metrics || return 1
    grep -qx "RUNNER_METRICS_FLAVOR=\"$FLAVOR\"" "$COPY/etc/default/runner-metrics" &&
        grep -qFx "RUNNER_METRICS_ARGS=\"$args\"" "$COPY/etc/default/runner-metrics" ||
        { echo "/etc/default/runner-metrics has no RUNNER_METRICS_FLAVOR= / RUNNER_METRICS_ARGS= line to edit"; return 1; }
}

# --- Runners ------------------------------------------------------------------------------------

# make_images SET: every image runner of the set gets a 1 MiB ext4 image (dd + mkfs.ext4, as the
# charm makes them), loop-mounted on its directory and filled there; an "unmounted" one is then
# unmounted again, as after a reboot.
make_images() {
    local set=$1 kind name img dir
    for kind in mounted unmounted; do
        while read -r name; do
            img=/home/ubuntu/runner-fs-images/$name.img
            dir=/home/ubuntu/runner-fs/$name
            in_ct sh -ec "dd if=/dev/zero of=$img bs=1M count=1 status=none
                mkfs.ext4 -q $img 2>/dev/null; chown ubuntu:ubuntu $img
                mkdir -p $dir; mount -o loop $img $dir; chown ubuntu:ubuntu $dir
                cp -a $STAGE_CT/image/$name/. $dir/" || return 1
            [ "$kind" = unmounted ] && { in_ct umount "$dir" || return 1; }
            stat -c "$name %Hd:%Ld %i" "$COPY$img" >>"$WORK/images" || return 1
        done <"$STAGE/$set.$kind"
    done
}

layout_main() {
    in_ct useradd -m -U -s /bin/sh ubuntu || return 1
    # The container's /dev has no loop devices. They are the host's, and others may be using
    # hundreds: nodes up to 256 past the highest the host has now, for `mount -o loop` to find
    # the free one the kernel hands out.
    local last
    last=$(ls /sys/devices/virtual/block 2>/dev/null | sed -n 's/^loop\([0-9]*\)$/\1/p' | sort -n | tail -1)
    in_ct sh -ec "mkdir -p /home/ubuntu/runner-fs /home/ubuntu/runner-fs-images $STAGE_CT
        chown ubuntu:ubuntu /home/ubuntu/runner-fs /home/ubuntu/runner-fs-images
        [ -e /dev/loop-control ] || mknod /dev/loop-control c 10 237
        for n in \$(seq 0 $(( ${last:-0} + 256 ))); do [ -e /dev/loop\$n ] || mknod /dev/loop\$n b 7 \$n; done" || return 1
    STAGE=$COPY$STAGE_CT
    python3 "$HERE/runners.py" write "$COPY" "$STAGE" main "$FLAVOR" 0 || return 1
    in_ct chown -hR ubuntu:ubuntu /home/ubuntu/runner-fs "$STAGE_CT/image" || return 1
    make_images main || return 1
    in_ct sh -ec "mkdir -p ${IGNORE_FILE%/*} ${TEXTFILE_DIR%/*}; cat $STAGE_CT/main.ignored >$IGNORE_FILE" || return 1
}

# layout_later SET COUNT: runners written into a staging directory, then each renamed into
# runner-fs whole, so that a timer tick never sees one half written.
layout_later() {
    mkdir -p "$COPY$STAGING_CT" || return 1
    python3 "$HERE/runners.py" write "$COPY" "$STAGE" "$1" "$FLAVOR" "$2" "${STAGING_CT#/}" || return 1
    in_ct sh -ec "chown -hR ubuntu:ubuntu $STAGING_CT
        cd $STAGING_CT; mv -t /home/ubuntu/runner-fs/ -- *"
}

# --- Unit state ---------------------------------------------------------------------------------

# How each run ended, as systemd saw it. `systemctl show -P ExecMainStatus` cannot tell: once a
# oneshot unit that nothing references is inactive, systemd unloads it and reloads it fresh (all
# zero) for the next query. So a test-only drop-in adds an ExecStopPost= ("+": outside any
# sandbox the unit has) that appends systemd's $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS.
RESULTS=/run/runner-metrics-acceptance.results
observe_results() {
    in_ct sh -ec "mkdir -p /etc/systemd/system/runner-metrics.service.d
        printf '%s\n' '[Service]' 'ExecStopPost=+/bin/sh -c \"echo \$\$SERVICE_RESULT \$\$EXIT_CODE \$\$EXIT_STATUS >>$RESULTS\"' \
            >/etc/systemd/system/runner-metrics.service.d/acceptance-observe.conf
        systemctl daemon-reload"
}
journal_tail() { in_ct journalctl -u runner-metrics.service -n "${1:-4}" --no-pager -o cat 2>/dev/null; }

start_service() {
    in_ct rm -f "$RESULTS"
    # The test starts the unit more often than any host does (and its timer drop-in ticks every
    # 2 s): systemd's start limit (5 starts in 10 s) is not what is under test.
    in_ct systemctl reset-failed runner-metrics.service 2>/dev/null || true
    CT_TIMEOUT=600 in_ct timeout 300 systemctl start runner-metrics.service
}

# unit_ended STATUS: the last run's result is success and its main process exited with STATUS.
unit_ended() {
    local ended
    wait_for 30 in_ct test -s "$RESULTS" || { echo "no ExecStopPost= record of the run in 30 s"; return 1; }
    ended=$(in_ct tail -n 1 "$RESULTS")
    [ "$ended" = "success exited $1" ] && return 0
    echo "SERVICE_RESULT EXIT_CODE EXIT_STATUS: $ended (want success exited $1); $(journal_tail 4 | one_line)"
    return 1
}

size_of() { stat -c %s "$COPY$1" 2>/dev/null || echo 0; }

# No mount of a runner (or of anything under the copy) in the container or on the host.
no_runner_mounts() {
    local inside host
    inside=$(in_ct cat /proc/self/mountinfo | awk '$5 ~ "^/home/ubuntu/"')
    host=$(cat /proc/self/mountinfo "/proc/$NSPAWN_PID/mountinfo" | awk -v p="$COPY/" 'index($5, p) == 1')
    [ -z "$inside$host" ] && return 0
    echo "container: $(one_line <<<"$inside") host: $(one_line <<<"$host")"
    return 1
}

no_loop_devices() {
    local left
    left=$(our_loop_devices)
    [ -z "$left" ] && return 0
    echo "still attached: $(one_line <<<"$left")"
    return 1
}

unchanged() { [ "$(python3 "$HERE/runners.py" snapshot "$1")" = "$2" ] || { echo "$1 changed"; return 1; }; }

file_digest() { stat -c '%a %u %g %s' "$1" && sha256sum <"$1"; }

service_inactive() { [ "$(in_ct systemctl is-active runner-metrics.service)" = inactive ]; }
gone() { [ ! -e "$COPY/home/ubuntu/runner-fs/$1" ]; }

# --- GitHub API enrichment -----------------------------------------------------------------------

# The fake API (Tests/Support/fake_github.py) on the host's loopback, HTTPS with a CA made for
# this run. systemd-nspawn without --private-network shares the host's network namespace, so
# the container's 127.0.0.1 is the host's: the unit reaches it only when it has the host's
# network (the drop-in), not from its own namespace (PrivateNetwork=yes).
GH_TOKEN=ghp_acceptance0123456789abcdefABCDEF
GH_TOKEN_FILE=/etc/runner-metrics/github-token
GH_CA_CT=/etc/runner-metrics/test-ca.pem
GH_DROPIN=/etc/systemd/system/runner-metrics.service.d/github-api.conf
fake_api_start() {
    local fake=$REPO/Tests/Support/fake_github.py
    GH=$WORK/github
    mkdir -p "$GH" || return 1
    python3 "$fake" make-certs "$GH/certs" || return 1
    python3 "$fake" serve --log "$GH/requests.log" --cert "$GH/certs" --host 127.0.0.1 >"$GH/port" 2>"$GH/serve.err" &
    FAKE_PID=$!
    wait_for 20 grep -qx 'PORT [0-9]*' "$GH/port" || { echo "no port from the fake API: $(one_line <"$GH/serve.err")"; return 1; }
    GH_PORT=$(sed -n 's/^PORT //p' "$GH/port")
    # The CA into the container; the token file as the option wants it: root's, mode 0600.
    in_ct install -d -m 0755 /etc/runner-metrics || return 1
    install -m 0644 "$GH/certs/ca.pem" "$COPY$GH_CA_CT" || return 1
    in_ct sh -ec "umask 077; printf '%s\n' '$GH_TOKEN' >$GH_TOKEN_FILE; chown root:root $GH_TOKEN_FILE; chmod 0600 $GH_TOKEN_FILE"
    GH_ARGS="$ARGS --github-token-file $GH_TOKEN_FILE --github-api-url https://127.0.0.1:$GH_PORT --github-ca-file $GH_CA_CT"
}

# The fake API answers at all: from the host, so that "nothing reached it" below means the
# unit could not, not that the server was down.
fake_api_answers() {
    local out
    out=$(python3 - "$GH_PORT" "$GH/certs/ca.pem" <<'PY'
import json, ssl, sys, urllib.request
context = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(f"https://127.0.0.1:{sys.argv[1]}/repos/octo/single/actions/runs/1/jobs",
                            context=context, timeout=10) as response:
    jobs = json.load(response)["jobs"]
print("runner-1" if any(job["runner_name"] == "runner-1" for job in jobs) else "no runner-1 job")
PY
    ) || { echo "$out"; return 1; }
    [ "$out" = runner-1 ] || { echo "$out"; return 1; }
    # The probe's own request is not the unit's.
    rm -f "$GH/requests.log"
}

# no_requests PID LOG: the fake API is still up and nothing reached it.
no_requests() {
    kill -0 "$1" 2>/dev/null || { echo "the fake API is not running"; return 1; }
    [ ! -s "$2" ] && return 0
    echo "$(wc -l <"$2") requests reached it: $(head -c 300 "$2" | one_line)"
    return 1
}

# A second fake API on an address of the host's that is not loopback, which the drop-in's
# IPAddressAllow=localhost leaves out (its certificate names only 127.0.0.1 and localhost, so
# a connection the filter let through would fail as tls-failed, not connect-failed).
outside_address() { hostname -I 2>/dev/null | tr ' ' '\n' | grep -m 1 -E '^[0-9]+(\.[0-9]+){3}$'; }
outside_api_start() {
    python3 "$REPO/Tests/Support/fake_github.py" serve --log "$GH/outside.log" --cert "$GH/certs" --host "$OUTSIDE_ADDR" \
        >"$GH/outside.port" 2>"$GH/outside.err" &
    OUTSIDE_PID=$!
    wait_for 20 grep -qx 'PORT [0-9]*' "$GH/outside.port" || { echo "no port: $(one_line <"$GH/outside.err")"; return 1; }
    OUTSIDE_PORT=$(sed -n 's/^PORT //p' "$GH/outside.port")
    OUTSIDE_ARGS="$ARGS --github-token-file $GH_TOKEN_FILE --github-api-url https://$OUTSIDE_ADDR:$OUTSIDE_PORT --github-ca-file $GH_CA_CT"
}

# unit_network yes|no with|without: what systemd has loaded for the unit, PrivateNetwork= and
# whether the drop-in is among its drop-ins.
unit_network() {
    local private dropins
    private=$(in_ct systemctl show -P PrivateNetwork runner-metrics.service)
    dropins=$(in_ct systemctl show -P DropInPaths runner-metrics.service)
    [ "$private" = "$1" ] || { echo "PrivateNetwork=$private, want $1 (drop-ins: $dropins)"; return 1; }
    case " $dropins " in
        *" $GH_DROPIN "*) [ "$2" = with ] || { echo "$GH_DROPIN still loaded"; return 1; } ;;
        *) [ "$2" = without ] || { echo "$GH_DROPIN not loaded (drop-ins: $dropins)"; return 1; } ;;
    esac
}

# What systemd made of the drop-in's address families and IP address lists.
dropin_loaded() {
    local want got property
    for want in "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" "IPAddressDeny=0.0.0.0/0 ::/0" \
            "IPAddressAllow=127.0.0.0/8 ::1/128"; do
        property=${want%%=*}
        # In systemd's order, which is not the file's: compared as sets.
        got=$(in_ct systemctl show -P "$property" runner-metrics.service | tr ' ' '\n' | sort | paste -sd ' ')
        [ "$got" = "$(tr ' ' '\n' <<<"${want#*=}" | sort | paste -sd ' ')" ] || echo "$property=$got, want ${want#*=}"
    done | grep . && return 1
    return 0
}

# ip_filter_enforced ADDRESS PORT: this systemd enforces IPAddressDeny= at all: a transient unit
# with the drop-in's lists cannot connect to the outside API. systemd filters with BPF programs
# on the unit's cgroup (unified hierarchy); where it cannot (a cgroup v1 host, as on the project
# machine), it ignores the lists without a word, and the connection goes through.
ip_filter_enforced() {
    ! in_ct systemd-run --wait --quiet --pipe -p IPAddressDeny=any -p IPAddressAllow=localhost \
        /bin/bash -c "exec 3<>/dev/tcp/$1/$2" >/dev/null 2>&1
}

# The drop-in installed as its header says.
install_github_dropin() {
    in_ct sh -ec "cd $SRC/Security/systemd && install -D -m 0644 github-api.conf $GH_DROPIN
        systemctl daemon-reload"
}

remove_github_dropin() {
    in_ct sh -ec "rm -f $GH_DROPIN; systemctl daemon-reload"
}

# exposure: systemd-analyze security's overall exposure of the unit as loaded (drop-ins too).
exposure() {
    in_ct systemd-analyze security --no-pager runner-metrics.service 2>&1 |
        sed -n 's/.*Overall exposure level for runner-metrics.service: \([0-9.]*\).*/\1/p'
}

# The default unit's bound, as loaded in the container: --threshold compares the exact value
# (tenths), not the rounded one printed.
exposure_at_most_3_7() {
    local out
    out=$(in_ct systemd-analyze security --no-pager --threshold=37 runner-metrics.service 2>&1) && return 0
    grep "Overall exposure" <<<"$out" || echo "systemd-analyze security failed: $(tail -3 <<<"$out" | one_line)"
    return 1
}

# --- The run --------------------------------------------------------------------------------------


# libraries_present DIR: ldd in the container finds every shared library of DIR's supervisor and
# runner-metrics-github; the fork server there is static, as it is meant to be (no loader in the
# process that reads hostile bytes; packaging/deb/lintian-overrides).
libraries_present() {
    local out binary
    for binary in runner-metrics runner-metrics-github; do
        out=$(in_ct ldd "$1/$binary" 2>&1) || { echo "ldd $1/$binary: $(one_line <<<"$out")"; return 1; }
        ! grep "not found" <<<"$out" | sed "s|^|$binary: |" || return 1
    done
    out=$(in_ct ldd "$1/runner-metrics-worker" 2>&1)
    grep -q "not a dynamic executable" <<<"$out" || { echo "runner-metrics-worker: $(one_line <<<"$out")"; return 1; }
}

# For the test only: the timer fires 1 s after it starts and 2 s after each run (the shipped one:
# 2 min after boot, then 5 min after each run), so that two ticks fit in a few seconds.
timer_dropin() {
    in_ct sh -ec 'mkdir -p /etc/systemd/system/runner-metrics.timer.d
        printf "%s\n" "[Timer]" "OnBootSec=" "OnActiveSec=1s" "OnUnitInactiveSec=2s" \
            "RandomizedDelaySec=0" "AccuracySec=1s" >/etc/systemd/system/runner-metrics.timer.d/acceptance.conf'
}

timer_up() {
    local active enabled
    active=$(in_ct systemctl is-active runner-metrics.timer)
    enabled=$(in_ct systemctl is-enabled runner-metrics.timer)
    [ "$active" = active ] && [ "$enabled" = enabled ] && return 0
    echo "runner-metrics.timer is-active=$active is-enabled=$enabled"
    return 1
}

# handled_by_tick SET: the set's runner goes within 30 s without a start of ours, with its lines.
handled_by_tick() {
    local at
    at=$(size_of "$METRICS_LOG")
    layout_later "$1" "$2" || return 1
    wait_for 30 gone "$1" || { echo "$1 still there after 30 s; $(journal_tail 3 | one_line)"; return 1; }
    python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" "$at" "$STAGE/$1.json"
}

# The first events of a run are out, or the run is over.
first_lines_or_end() {
    grown "$METRICS_LOG" "$1" && return 0
    case $(in_ct systemctl is-active runner-metrics.service) in activating|active) return 1 ;; esac
}

stop_mid_run() {
    local state
    state=$(in_ct systemctl is-active runner-metrics.service)
    [ "$state" = activating ] || { echo "the run was not in progress (is-active: $state)"; return 1; }
    in_ct timeout 120 systemctl stop runner-metrics.service
}

# D1: the unit runs in the container's own mount namespace (systemd builds none for it).
shares_mount_namespace() {
    local pid unit init
    pid=$(in_ct systemctl show runner-metrics.service -P MainPID)
    [ -n "$pid" ] && [ "$pid" != 0 ] || { echo "no main process (MainPID=$pid)"; return 1; }
    unit=$(in_ct readlink "/proc/$pid/ns/mnt")
    init=$(in_ct readlink /proc/1/ns/mnt)
    [ -n "$unit" ] && [ "$unit" = "$init" ] || { echo "main process $pid: $unit, PID 1: $init"; return 1; }
}

# What the first start made, with nothing made by hand: the metrics log 0644 (Promtail reads
# it, as upstream), the audit log 0600, the quarantine 0700, the state directory 0700, root's;
# the textfile directory 0755 (node_exporter runs as prometheus) is checked with the textfile.
created_modes() {
    local want got path
    for want in "644 $METRICS_LOG" "600 $AUDIT_LOG" "700 /home/ubuntu/runner-fs-quarantine" \
            "700 /var/lib/runner-metrics"; do
        path=${want#* }
        got=$(stat -c '%a %u:%g' "$COPY$path" 2>&1)
        [ "$got" = "${want%% *} 0:0" ] || echo "$path: $got, want ${want%% *} 0:0"
    done | grep . && return 1
    return 0
}

textfile_written() {
    local mode
    mode=$(stat -c '%a %u:%g' "$COPY$TEXTFILE_DIR" 2>&1)
    [ "$mode" = "755 0:0" ] || { echo "$TEXTFILE_DIR: $mode, want 755 0:0"; return 1; }
    python3 "$HERE/runners.py" check-textfile "$COPY$TEXTFILE_DIR/runner-metrics.prom" "$STAGE/main.json"
}

same_size() { [ "$(size_of "$1")" = "$2" ] || { echo "$1 grew from $2 to $(size_of "$1") bytes"; return 1; }; }
same_sizes() { same_size "$1" "$2" && same_size "$3" "$4"; }
grown() { [ "$(size_of "$1")" -gt "$2" ]; }
lock_held() { ! in_ct flock -n /var/lib/runner-metrics/lock true; }
same_digest() { [ "$(file_digest "$1")" = "$2" ] || { echo "$1 changed"; return 1; }; }

started_ok() {
    local out
    out=$(start_service 2>&1) && return 0
    echo "systemctl start: $(one_line <<<"$out"); $(journal_tail 3 | one_line)"
    return 1
}

WORK=$(mktemp -d /var/tmp/runner-metrics-acceptance.XXXXXX) || abort "work directory" "mktemp failed"
COPY=$WORK/root
STAGE=$COPY$STAGE_CT
run() { "$@" >"$WORK/step.log" 2>&1; }
step_log() { one_line <"$WORK/step.log"; }

check "readme install steps" readme_steps_match
for bin in runner-metrics runner-metrics-worker; do
    [ -x "$REPO/.build/release/$bin" ] ||
        abort "release build" "no .build/release/$bin (swift build -c release --static-swift-stdlib)"
done
run ensure_root || abort "cached debian root" "$(step_log)"
echo "# root: $ROOT_CACHE, copy: $COPY ($(( $(date +%s) - started )) s)"
run boot || abort "container boots" "$(step_log)"
ok "container boots ($(in_ct systemctl is-system-running))"
run install_as_readme || abort "install as the README says" "$(step_log)"
ok "install as the README says"
run observe_results || abort "drop-in recording each run's result" "$(step_log)"
check "the root has the shared libraries of all three binaries" libraries_present /usr/local/bin
run configure_defaults || abort "edit /etc/default/runner-metrics" "$(step_log)"
run layout_main || abort "lay out the runners" "$(step_log)"
ignored_before=$(python3 "$HERE/runners.py" snapshot "$COPY/home/ubuntu/runner-fs/ignored-active")
shadow_before=$(file_digest "$COPY/etc/shadow")
echo "# booted, installed, laid out ($(( $(date +%s) - started )) s)"

# The first start on a fresh host: nothing created by hand.
check "first start on a fresh host" started_ok
check "first run: result success, exit status 3 (runners quarantined)" unit_ended 3
check "first start created the logs, the quarantine and the state directory" created_modes
check "metric lines exact" python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" 0 "$STAGE/main.json"
check "hostile runners quarantined and audited" \
    python3 "$HERE/runners.py" check-audit "$COPY" "$COPY$AUDIT_LOG" 0 "$STAGE/main.json"
FIRST="first run: result success, exit status 3 (runners quarantined)"
check_after "$FIRST" "a symlink's target untouched (/etc/shadow)" same_digest "$COPY/etc/shadow" "$shadow_before"
check "textfile: a directory of 0755 made, the run's counts" textfile_written
check "honest runners gone (directory, image)" python3 "$HERE/runners.py" gone "$COPY" "$STAGE/main.json"
check "no runner mount left (container and host)" no_runner_mounts
check "no loop device left" no_loop_devices
check_after "$FIRST" "ignored runner untouched" unchanged "$COPY/home/ubuntu/runner-fs/ignored-active" "$ignored_before"

# The timer, enabled with the README's line (and the test's drop-in, timer_dropin).
audit_at=$(size_of "$AUDIT_LOG")
if run timer_dropin && run start_timer_as_readme; then check "timer enabled and active" timer_up
else not_ok "timer enabled and active" "$(step_log)"; fi
check "a timer tick handles a new runner" handled_by_tick timer-1 1
check "a later tick handles the next" handled_by_tick timer-2 2
in_ct systemctl stop runner-metrics.timer
wait_for 60 service_inactive
check_after "a later tick handles the next" "ticks audited nothing" same_size "$AUDIT_LOG" "$audit_at"
log_at=$(size_of "$METRICS_LOG")
audit_at=$(size_of "$AUDIT_LOG")
check "second start succeeds" started_ok
check "second start: result success, exit status 0" unit_ended 0
check_after "second start: result success, exit status 0" "second start issues nothing" \
    same_sizes "$METRICS_LOG" "$log_at" "$AUDIT_LOG" "$audit_at"

# systemctl stop in the middle of a large run, then the next start.
run layout_later bulk "$BULK" || abort "lay out $BULK runners" "$(step_log)"
log_at=$(size_of "$METRICS_LOG")
echo "# $BULK runners laid out ($(( $(date +%s) - started )) s)"
in_ct systemctl start --no-block runner-metrics.service
POLL=0.02 wait_for 120 first_lines_or_end "$log_at"
check "the unit shares the container's mount namespace" shares_mount_namespace
check "systemctl stop mid-run" stop_mid_run
check "stopped mid-run: nothing lost, nothing twice" \
    python3 "$HERE/runners.py" check-stopped "$COPY" "$COPY$METRICS_LOG" "$STAGE/bulk.json" "$log_at"
check "the next start finishes the run" started_ok
check "finishing run: result success, exit status 0" unit_ended 0
check "every event of the stopped run exactly once" \
    python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" "$log_at" "$STAGE/bulk.json"
check "all $BULK runners gone" python3 "$HERE/runners.py" gone "$COPY" "$STAGE/bulk.json"

# Another run holds the lock.
run layout_later locked-1 3 || abort "lay out locked-1" "$(step_log)"
locked_before=$(python3 "$HERE/runners.py" snapshot "$COPY/home/ubuntu/runner-fs/locked-1")
log_at=$(size_of "$METRICS_LOG")
{ CT_TIMEOUT=300 in_ct sh -c 'exec 9>>/var/lib/runner-metrics/lock; flock -x 9
    echo $$ >/run/acceptance-lock.pid; exec sleep 240'; } >/dev/null 2>&1 &
LOCK_JOB=$!
if wait_for 20 lock_held; then
    check "held lock: start succeeds" started_ok
    check "held lock: result success, exit status 75" unit_ended 75
    check_after "held lock: result success, exit status 75" "held lock: nothing touched" unchanged "$COPY/home/ubuntu/runner-fs/locked-1" "$locked_before"
    in_ct sh -c 'kill "$(cat /run/acceptance-lock.pid)"'
    wait "$LOCK_JOB"
    check "lock released: the next start handles the runner" started_ok
    check "lock released: exit status 0" unit_ended 0
    check "lock released: its lines" python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" "$log_at" "$STAGE/locked-1.json"
else
    not_ok "held lock" "flock on /var/lib/runner-metrics/lock not held within 20 s"
fi

# GitHub API enrichment (--github-token-file), with the README's install: the fake API on the
# host's loopback. First the default unit (PrivateNetwork=yes): every runner asked fails to
# connect, its events go out exactly as without enrichment, and nothing reaches the host. Then
# the shipped drop-in: the fake API's answers in the lines. Then both taken away again.
if run fake_api_start; then
    ok "fake GitHub API started (HTTPS on the host's 127.0.0.1)"
    echo "# fake GitHub API on 127.0.0.1:$GH_PORT ($(( $(date +%s) - started )) s)"
    check "the fake GitHub API answers the host" fake_api_answers
    check "github args in /etc/default/runner-metrics" configure_defaults "$GH_ARGS"
    check "default unit: PrivateNetwork=yes, no network drop-in" unit_network yes without
    check "default unit: exposure at most 3.7 (systemd-analyze security, as loaded)" exposure_at_most_3_7
    run layout_later github-off 0 || abort "lay out github-off" "$(step_log)"
    log_at=$(size_of "$METRICS_LOG")
    check "github, no network: start succeeds" started_ok
    check "github, no network: result success, exit status 0" unit_ended 0
    check "github, no network: lines exactly as without enrichment" \
        python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" "$log_at" "$STAGE/github-off.json"
    check "github, no network: textfile counts 3 connect-failed, none enriched" \
        python3 "$HERE/runners.py" check-github-textfile "$COPY$TEXTFILE_DIR/runner-metrics.prom" 0 connect-failed=3
    check "github, no network: runners gone" python3 "$HERE/runners.py" gone "$COPY" "$STAGE/github-off.json"
    # Only once the textfile shows the three asked and failed to connect does an empty request
    # log say that the unit could not reach the host, not that it never asked.
    check_after "github, no network: textfile counts 3 connect-failed, none enriched" \
        "github, no network: no request reached the host's loopback" no_requests "$FAKE_PID" "$GH/requests.log"
    if run install_github_dropin; then
        check "drop-in: PrivateNetwork=no, $GH_DROPIN loaded" unit_network no with
        check "drop-in: as loaded, its address families, IPAddressDeny=any and IPAddressAllow=localhost" dropin_loaded
        gh_exposure=$(exposure)
        echo "# systemd-analyze security with the drop-in: exposure ${gh_exposure:-unknown}"
        check "drop-in: systemd-analyze security gives an exposure (${gh_exposure:-none})" test -n "$gh_exposure"
        run layout_later github-on 0 || abort "lay out github-on" "$(step_log)"
        log_at=$(size_of "$METRICS_LOG")
        check "github, drop-in: start succeeds" started_ok
        check "github, drop-in: result success, exit status 0" unit_ended 0
        check "github, drop-in: the API's queue_duration and job_conclusion in the lines, exactly" \
            python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" "$log_at" "$STAGE/github-on.json"
        check "github, drop-in: each request for a runner's run, the token as the bearer" \
            python3 "$HERE/runners.py" check-requests "$GH/requests.log" "$GH_TOKEN" "$STAGE/github-on.json"
        check "github, drop-in: textfile counts 5 enriched, 1 http-404 (and the 3 connect-failed before)" \
            python3 "$HERE/runners.py" check-github-textfile "$COPY$TEXTFILE_DIR/runner-metrics.prom" 5 connect-failed=3 http-404=1
        check "github, drop-in: runners gone" python3 "$HERE/runners.py" gone "$COPY" "$STAGE/github-on.json"
        # The drop-in's IPAddressDeny=any with IPAddressAllow=localhost: an API elsewhere is
        # refused. Checked only where this systemd enforces the lists at all (ip_filter_enforced).
        OUTSIDE_ADDR=$(outside_address)
        if [ -z "$OUTSIDE_ADDR" ]; then
            echo "# not checked here: an API outside IPAddressAllow= refused (the host has no IPv4 address but loopback)"
        elif ! run outside_api_start; then
            not_ok "a fake API outside IPAddressAllow=" "$(step_log)"
        elif ! ip_filter_enforced "$OUTSIDE_ADDR" "$OUTSIDE_PORT"; then
            echo "# not checked here: an API outside IPAddressAllow= refused (this systemd enforces no IPAddressDeny=: a transient unit with it connected to $OUTSIDE_ADDR; the container's cgroups: $(in_ct stat -fc %T /sys/fs/cgroup /sys/fs/cgroup/unified 2>/dev/null | one_line))"
        elif run configure_defaults "$OUTSIDE_ARGS" && run layout_later github-outside 0; then
            log_at=$(size_of "$METRICS_LOG")
            check "github, drop-in, API outside IPAddressAllow=: start succeeds" started_ok
            check "github, drop-in, API outside IPAddressAllow=: result success, exit status 0" unit_ended 0
            check "github, drop-in, API outside IPAddressAllow=: lines without the fields" \
                python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" "$log_at" "$STAGE/github-outside.json"
            check "github, drop-in, API outside IPAddressAllow=: refused as connect-failed" \
                python3 "$HERE/runners.py" check-github-textfile "$COPY$TEXTFILE_DIR/runner-metrics.prom" 5 connect-failed=4 http-404=1
            check_after "github, drop-in, API outside IPAddressAllow=: refused as connect-failed" \
                "github, drop-in, API outside IPAddressAllow=: no request reached it" no_requests "$OUTSIDE_PID" "$GH/outside.log"
        else
            not_ok "a fake API outside IPAddressAllow=" "$(step_log)"
        fi
    else
        not_ok "drop-in installed" "$(step_log)"
    fi
    run remove_github_dropin || not_ok "drop-in removed" "$(step_log)"
    check "github args taken out of /etc/default/runner-metrics" configure_defaults
    check "drop-in removed: the default unit again (PrivateNetwork=yes)" unit_network yes without
else
    not_ok "fake GitHub API started" "$(step_log)"
fi

# The Debian package (packaging/deb/build.sh, which .ci/run runs before this script): the
# README's install taken away first, then the package installed, run, upgraded over itself,
# removed and purged, checking what each step leaves.
DEB=$(ls "$REPO"/.build/deb/runner-metrics_*_amd64.deb 2>/dev/null | tail -n 1)
if [ -z "$DEB" ]; then
    not_ok "package" "no .build/deb/runner-metrics_*_amd64.deb (packaging/deb/build.sh)"
elif run remove_readme_install; then
    DEB_CT=$SRC/.build/deb/$(basename "$DEB")
    check "package installs" package_installed "$DEB_CT"
    check_after "package installs" "package: timer enabled and started by the install" timer_up
    check_after "package installs" "package: the command and its fork server from /usr/libexec" package_command
    check_after "package installs" "package: man runner-metrics-extract" package_manual
    check_after "package installs" "package: ldd resolves every library of the binaries in /usr/libexec" \
        libraries_present /usr/libexec/runner-metrics
    check_after "package installs" "package: Depends has libssl3" package_depends
    check_after "package installs" "package: the network drop-in an example only, not active" package_github_example
    run configure_defaults || not_ok "package: edit /etc/default/runner-metrics" "$(step_log)"
    run layout_later pkg-1 2 || abort "lay out pkg-1" "$(step_log)"
    log_at=$(size_of "$METRICS_LOG")
    check_after "package installs" "package: a start succeeds" started_ok
    check_after "package: a start succeeds" "package: result success, exit status 0" unit_ended 0
    check_after "package: a start succeeds" "package: its lines" python3 "$HERE/runners.py" check-lines "$COPY$METRICS_LOG" "$log_at" "$STAGE/pkg-1.json"
    check_after "package installs" "package upgrades over itself, settings kept" package_upgraded "$DEB_CT"
    check_after "package installs" "package removal: programs and timer gone, settings and state kept" package_removed
    check_after "package installs" "package purge: settings, state and textfile gone, logs and quarantine kept" package_purged
else
    not_ok "package: take the README's install away first" "$(step_log)"
fi

if [ "$failed" != 0 ]; then
    echo "# the unit's journal, last 60 lines:"
    journal_tail 60 | sed 's/^/#   /'
fi
summary
[ "$failed" = 0 ]
