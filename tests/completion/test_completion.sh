#!/bin/bash
# Tests completion/ctflushctl: sources it, completes typed lines the way
# bash does (COMP_LINE and COMP_POINT, then the function complete -F named),
# and compares the candidates with what they must be. Then checks its word
# lists against the built ctflushctl: every command `ctflushctl help` lists,
# every global option, and each command's options from `ctflushctl help CMD`.
#
#   test_completion.sh CTFLUSHCTL COMPLETION_FILE
set -uo pipefail

ctl=$1
comp=$2
fails=0 checks=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/subdir"
: >"$tmp/sock1"
: >"$tmp/list.txt"

# shellcheck source=/dev/null
source "$comp" || { echo "FAIL: cannot source $comp"; exit 1; }
func=$(complete -p ctflushctl 2>/dev/null | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
if [[ -z $func ]]; then
    echo "FAIL: $comp registers no completion function for ctflushctl"
    exit 1
fi

# Prints the sorted candidates for LINE, the cursor at its end.
candidates() {
    local COMP_LINE=$1 COMP_POINT=${#1} COMPREPLY=()
    local -a COMP_WORDS
    read -ra COMP_WORDS <<<"$COMP_LINE"
    [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
    local COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    "$func" ctflushctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    ((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort
}

# expect LINE WORD... : the candidates are exactly these words.
expect() {
    local line=$1 got want
    shift
    got=$(candidates "$line" | tr '\n' ' ')
    want=$( (($#)) && printf '%s\n' "$@" | sort | tr '\n' ' ')
    checks=$((checks + 1))
    if [[ $got != "$want" ]]; then
        echo "FAIL: '$line': got [${got% }], want [${want% }]"
        fails=$((fails + 1))
    fi
}

globals=(--socket --json --timeout --help --version)
all_cmds=(status jobs ports flush cancel pause resume set-ips metrics reload help)

# Commands, by prefix.
expect "ctflushctl " "${all_cmds[@]}"
expect "ctflushctl s" set-ips status
expect "ctflushctl fl" flush
expect "ctflushctl re" reload resume
expect "ctflushctl nosuch"
# Global options, before and after the command; a given one is not offered again.
expect "ctflushctl --j" --json
expect "ctflushctl --" "${globals[@]}"
expect "ctflushctl status --json --" --socket --timeout --help --version
# A value option's value is not the command word.
expect "ctflushctl --socket $tmp/sock1 st" status
expect "ctflushctl --timeout 5 j" jobs
expect "ctflushctl --timeout=5 j" jobs
# Each command's own options.
expect "ctflushctl jobs --l" --limit
expect "ctflushctl pause --n" --now
flush_opts=(--local --peers --zone --mark --direction --tuple --proto --dport --family --datapath --wait)
expect "ctflushctl flush --" "${flush_opts[@]}" "${globals[@]}"
expect "ctflushctl flush --local 10.0.0.1 --p" --peers --proto
expect "ctflushctl flush --local 10.0.0.1 --wait --" --peers --zone --mark --direction --tuple \
    --proto --dport --family --datapath "${globals[@]}"
expect "ctflushctl flush " "${flush_opts[@]}" "${globals[@]}"
# The selectors' words.
expect "ctflushctl flush --direction i" ingress
expect "ctflushctl flush --tuple=" any orig
expect "ctflushctl flush --family ipv" ipv4 ipv6
expect "ctflushctl flush --proto ud" udp udplite
expect "ctflushctl flush --dport "
expect "ctflushctl status --l"
# Values: "any" or @FILE for address lists, files for --socket, nothing for numbers.
expect "ctflushctl flush --local a" any
expect "ctflushctl flush --peers=a" any
expect "ctflushctl flush --local @$tmp/li" "@$tmp/list.txt"
expect "ctflushctl flush --local @$tmp/sub" "@$tmp/subdir/"
expect "ctflushctl --socket $tmp/so" "$tmp/sock1"
expect "ctflushctl --socket=$tmp/so" "$tmp/sock1"
expect "ctflushctl flush --zone "
expect "ctflushctl jobs --limit 1"
# Positional arguments.
expect "ctflushctl help p" pause ports
expect "ctflushctl help flush "
expect "ctflushctl cancel "
expect "ctflushctl set-ips vm1 @$tmp/li" "@$tmp/list.txt"

# The word lists against the binary. Commands: the indented words under
# "Commands:" in `ctflushctl help`.
help=$("$ctl" help) || { echo "FAIL: $ctl help failed"; exit 1; }
mapfile -t bin_cmds < <(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\).*/\1/p' <<<"$help")
if ((${#bin_cmds[@]} < 5)); then
    echo "FAIL: read only ${#bin_cmds[@]} commands from '$ctl help'"
    exit 1
fi
expect "ctflushctl " "${bin_cmds[@]}"

# Global options: those under "Options:", plus --help and --version, which
# the binary must accept.
mapfile -t bin_globals < <(sed -n '/^Options:/,$s/^  \(--[a-z-]*\).*/\1/p' <<<"$help")
for o in --help --version; do
    checks=$((checks + 1))
    if ! "$ctl" "$o" >/dev/null 2>&1; then
        echo "FAIL: $ctl $o is refused"
        fails=$((fails + 1))
    fi
done
expect "ctflushctl --" "${bin_globals[@]}" --help --version

# Each command's options: the --words of its synopsis in `ctflushctl help CMD`.
for c in "${bin_cmds[@]}"; do
    usage=$("$ctl" help "$c" | head -n 1)
    mapfile -t own < <(grep -o -- '--[a-z][a-z-]*' <<<"${usage#*"$c"}" | sort -u)
    expect "ctflushctl $c --" "${own[@]}" "${bin_globals[@]}" --help --version
done

echo "completion: $((checks - fails)) passed, $fails failed"
((fails == 0))
