#!/usr/bin/env bash
# Builds runner-metrics_VERSION_amd64.deb with dpkg-deb from the production build (release,
# static Swift standard library, stripped).
#
# usage: packaging/deb/build.sh [OUTPUT_DIRECTORY]     (default: .build/deb)
#
# Run as root or not; the package's files are owned by root either way (--root-owner-group).
# Needs: the Swift toolchain, dpkg-dev-free dpkg-deb, binutils (strip, readelf), gzip, and the
# build's system libraries (README "Set-up"). Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.build/deb}
version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/RunnerSupervisor/BuildInfo.swift)
[ -n "$version" ] || { echo "no version in Sources/RunnerSupervisor/BuildInfo.swift" >&2; exit 1; }

# 1. The production build. Man pages come from the debug build below, never from a second
#    release build: swift-argument-parser's generate-manual plugin builds every product in the
#    configuration it is given, and a plain release build would replace these binaries with
#    ones linked against the toolchain's shared Swift runtime.
#    No $ORIGIN run path either (SwiftPM adds one by default): a root binary in /usr/libexec
#    has no business looking for its shared libraries beside itself.
build=(swift build -c release --static-swift-stdlib --disable-local-rpath)
"${build[@]}"
release=$("${build[@]}" --show-bin-path)
swift package generate-manual --configuration debug --multi-page --section 8 \
    --authors "runner-metrics maintainers" >/dev/null
manuals=.build/plugins/GenerateManual/outputs/runner-metrics

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/libexec/runner-metrics" "$root/lib/systemd/system" \
    "$root/etc/default" "$root/etc/logrotate.d" "$root/usr/lib/tmpfiles.d" "$root/usr/share/man/man8" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/runner-metrics/Security" \
    "$root/usr/share/doc/runner-metrics/examples" "$root/usr/share/lintian/overrides"

# 2. The three binaries side by side (the supervisor execs the fork server, and with GitHub API
#    enrichment runner-metrics-github, from its own directory), off PATH; the command is a
#    symlink to the real path, which /proc/self/exe resolves to.
binaries=(runner-metrics runner-metrics-worker runner-metrics-github)
for binary in "${binaries[@]}"; do
    install -m 0755 "$release/$binary" "$root/usr/libexec/runner-metrics/$binary"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/libexec/runner-metrics/$binary"
done
ln -s ../libexec/runner-metrics/runner-metrics "$root/usr/bin/runner-metrics"

# 3. The unit, timer, settings, log rotation and tmpfiles, with the packaged paths.
packaged() { sed -e 's#/usr/local/bin/#/usr/bin/#g' -e 's#/usr/local/share/doc/#/usr/share/doc/#g' "$1"; }
packaged Security/systemd/runner-metrics.service >"$root/lib/systemd/system/runner-metrics.service"
install -m 0644 Security/systemd/runner-metrics.timer "$root/lib/systemd/system/runner-metrics.timer"
install -m 0644 Security/systemd/runner-metrics.default "$root/etc/default/runner-metrics"
install -m 0644 Security/logrotate/runner-metrics-audit "$root/etc/logrotate.d/runner-metrics-audit"
install -m 0644 Security/tmpfiles/runner-metrics.conf "$root/usr/lib/tmpfiles.d/runner-metrics.conf"
chmod 0644 "$root/lib/systemd/system/runner-metrics.service"

# 4. Man pages (section 8: the tool runs as root) and shell completions.
#    generate-manual names a subcommand's page runner-metrics.SUB; `man runner-metrics-SUB` is
#    what an operator types, so pages, titles and cross references are renamed to that.
#    ArgumentParser's implicit `help` subcommand gets no page.
for page in "$manuals"/*.8; do
    name=$(basename "$page" .8)
    [ "$name" = runner-metrics.help ] && continue
    sub=${name#runner-metrics.}
    # The NAME line must be the page's own name (whatis); the SYNOPSIS keeps the command.
    sed -e 's/^\(\.Dt RUNNER-METRICS\)\./\1-/' -e 's/^\(\.Xr runner-metrics\)\./\1-/' -e '/^\.Xr runner-metrics.help /d' \
        -e "s/^\.Nm \"runner-metrics $sub\"\$/.Nm runner-metrics-$sub/" -e "s/^\.Nm\$/.Nm \"runner-metrics $sub\"/" "$page" \
        | gzip -9n >"$root/usr/share/man/man8/${name/./-}.8.gz"
done
# bash-completion sources its files: no #! line.
"$release/runner-metrics" --generate-completion-script bash | sed '1{/^#!/d}' >"$root/usr/share/bash-completion/completions/runner-metrics"
"$release/runner-metrics" --generate-completion-script zsh >"$root/usr/share/zsh/vendor-completions/_runner-metrics"
"$release/runner-metrics" --generate-completion-script fish >"$root/usr/share/fish/vendor_completions.d/runner-metrics.fish"

# 5. Documents where the unit's Documentation= points, examples, copyright, changelog.
doc=$root/usr/share/doc/runner-metrics
install -m 0644 README.md "$doc/README.md"
install -m 0644 Security/*.md "$doc/Security/"
packaged Security/cron/runner-metrics >"$doc/examples/cron.d-runner-metrics"
install -m 0644 Security/logrotate/runner-metrics-cron Security/logrotate/runner-metrics-metrics.suggested \
    Security/prometheus/runner-metrics.rules.yml "$doc/examples/"
# The drop-in that gives the unit a network for GitHub API enrichment: an example only, never
# active by default (the packaged unit keeps PrivateNetwork=yes).
install -m 0644 Security/systemd/github-api.conf "$doc/examples/github-api.conf"
{
    echo "Upstream-Name: runner-metrics"
    echo
    sed -n 's/^Copyright /Copyright: /p' LICENSE
    echo "License: Apache-2.0"
    echo " On Debian systems, the full text of the Apache License, Version 2.0 is in"
    echo " /usr/share/common-licenses/Apache-2.0."
} >"$doc/copyright"
install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/runner-metrics"
printf 'runner-metrics (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- runner-metrics maintainers <maintainers@runner-metrics.invalid>  %s\n' \
    "$version" "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
    | gzip -9n >"$doc/changelog.gz"
find "$root/usr" "$root/etc" "$root/lib" -type f -exec chmod 0644 {} +
for binary in "${binaries[@]}"; do chmod 0755 "$root/usr/libexec/runner-metrics/$binary"; done
find "$root" -type d -exec chmod 0755 {} +

# 6. Control files. Depends: the packages of the shared libraries every shipped binary links
#    (runner-metrics-github brings libssl3). A binary with a program interpreter must be one
#    ldd can read; one without (the static fork server) links none.
libraries=$(for binary in "${binaries[@]}"; do
        path=$root/usr/libexec/runner-metrics/$binary
        readelf -lW "$path" | grep -q 'Requesting program interpreter' || continue
        linked=$(ldd "$path") && ! grep "not found" <<<"$linked" >&2 || { echo "ldd $path failed" >&2; exit 1; }
        awk '/=> \//{print $3}' <<<"$linked"
    done | sort -u) || exit 1
depends=$(for library in $libraries; do dpkg -S "$(readlink -f "$library")" 2>/dev/null || dpkg -S "$library"; done \
    | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
[ -n "$depends" ] || { echo "could not find the packages of: $libraries" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" packaging/deb/control.in >"$root/DEBIAN/control"
printf '/etc/default/runner-metrics\n/etc/logrotate.d/runner-metrics-audit\n' >"$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
(cd "$root" && find usr lib etc -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/runner-metrics_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
