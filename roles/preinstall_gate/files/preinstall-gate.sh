#!/bin/sh
# lifeline.storage pre-install gate, standalone: for installers that do not run Ansible
# (Kickstart %pre, Debian preseed partman/early_command, Ubuntu autoinstall early-commands).
# The same rules as the disk_guard module: a target disk passes only when it is blank or
# allow-listed by serial, WWN or /dev/disk/by-id path. Blank means no partition, no holder, no
# mount, no active swap, no signature that wipefs or blkid -p finds (when util-linux is there),
# and, when none of those is found, only zero bytes in the first and last --edge-bytes and in
# samples read across the rest of the disk (the same offsets as the module's for the same seed).
# Unknown content is data. It only reads: no tool here is given a write option.
#
# Usage: preinstall-gate.sh [--disk NAME]... [--allow ID]... [--edge-bytes N] [--list]
#                           [--sample-count N] [--sample-bytes N] [--sample-seed N]
#   --disk   a disk the installer will use: serial, WWN, /dev/disk/by-id path, /dev path or
#            kernel name. None given: every whole disk.
#   --allow  a disk that may hold data: serial, WWN or /dev/disk/by-id path, never /dev/sdX.
#   --list   print each whole disk's identity (kernel name, serial, WWN, by-id links) and exit.
#   --sample-count  evenly spaced samples between the edges (default 256; 0: none), plus a
#            quarter as many at offsets drawn from --sample-seed (default: drawn from
#            /dev/urandom and printed on the last line, so a run can be repeated).
#   --sample-bytes  bytes per sample, a multiple of 512 (default 65536).
# Exit status: 0 passed, 1 refused (one line per disk names the evidence), 2 bad input.
# Runs under busybox ash, dash and bash (it uses their `local`); needs only cat, dd, tr, wc,
# readlink, mktemp, sort, uniq and cmp (and od for a seed when none is given).
# shellcheck disable=SC3043  # local: every shell an installer runs this in has it

PROG=lifeline-preinstall-gate
NL='
'
BY_ID=/dev/disk/by-id
edge_bytes=1048576
sample_count=256
sample_bytes=65536
sample_seed=""
requested=""
allow=""
list_only=""

say() { printf '%s: %s\n' "$PROG" "$*"; }
usage_error() { say "$*"; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --disk) [ $# -ge 2 ] || usage_error "--disk needs a name"; requested="$requested$2$NL"; shift 2 ;;
        --allow) [ $# -ge 2 ] || usage_error "--allow needs a serial, WWN or by-id path"; allow="$allow$2$NL"; shift 2 ;;
        --edge-bytes) [ $# -ge 2 ] || usage_error "--edge-bytes needs a number"; edge_bytes=$2; shift 2 ;;
        --sample-count) [ $# -ge 2 ] || usage_error "--sample-count needs a number"; sample_count=$2; shift 2 ;;
        --sample-bytes) [ $# -ge 2 ] || usage_error "--sample-bytes needs a number"; sample_bytes=$2; shift 2 ;;
        --sample-seed) [ $# -ge 2 ] || usage_error "--sample-seed needs a number"; sample_seed=$2; shift 2 ;;
        --list) list_only=1; shift ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done

case $edge_bytes in
    ''|*[!0-9]*) usage_error "--edge-bytes must be a whole number of 512-byte sectors, got $edge_bytes" ;;
esac
[ "$edge_bytes" -gt 0 ] && [ $((edge_bytes % 512)) -eq 0 ] \
    || usage_error "--edge-bytes must be a positive multiple of 512, got $edge_bytes"
case $sample_count$sample_bytes in
    ''|*[!0-9]*) usage_error "--sample-count and --sample-bytes must be whole numbers, got $sample_count and $sample_bytes" ;;
esac
[ "$sample_bytes" -gt 0 ] && [ $((sample_bytes % 512)) -eq 0 ] \
    || usage_error "--sample-bytes must be a positive multiple of 512, got $sample_bytes"
if [ -z "$sample_seed" ]; then
    sample_seed=$(od -An -N4 -tu4 /dev/urandom 2>/dev/null) || usage_error "no --sample-seed given and /dev/urandom cannot be read"
    sample_seed=$(( $(printf '%s' "$sample_seed" | tr -d ' ') % 2147483648 ))
fi
case $sample_seed in
    ''|*[!0-9]*) usage_error "--sample-seed must be a whole number, got $sample_seed" ;;
esac

IFS=$NL
for entry in $allow; do
    case $entry in
        "$BY_ID"/*) ;;
        /dev/*) usage_error "$entry: allow-list a disk by serial, WWN or $BY_ID/ path; kernel names such as /dev/sdX change between boots and could let the gate pass the wrong disk" ;;
    esac
done
unset IFS

tmp=$(mktemp -d) || usage_error "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT

# util-linux's wipefs and blkid, when the environment has them (busybox's blkid has no -p).
have_wipefs=""
have_blkid=""
case $(wipefs --version 2>/dev/null) in *util-linux*) have_wipefs=1 ;; esac
case $(blkid --version 2>/dev/null) in *util-linux*) have_blkid=1 ;; esac

# Words of $* joined by single spaces; set -f keeps a * in a tool's message from globbing.
# shellcheck disable=SC2048,SC2086  # the splitting is the point
trim() { set -f; set -- $*; set +f; printf '%s' "$*"; }

# A property from udev's database, the source lsblk reads serials and WWNs from.
udev_property() {
    local line
    [ -r "/run/udev/data/b$1" ] || return 1
    while IFS= read -r line; do
        case $line in "E:$2="?*) printf '%s' "${line#"E:$2="}"; return 0 ;; esac
    done < "/run/udev/data/b$1"
    return 1
}

disk_serial() {
    local devno key file value
    read -r devno < "/sys/block/$1/dev"
    for key in SCSI_IDENT_SERIAL ID_SCSI_SERIAL ID_SERIAL_SHORT ID_SERIAL; do
        udev_property "$devno" "$key" && return 0
    done
    for file in "/sys/block/$1/device/serial" "/sys/block/$1/serial"; do
        [ -r "$file" ] && read -r value < "$file" && value=$(trim "$value") && [ -n "$value" ] && { printf '%s' "$value"; return 0; }
    done
    return 1
}

disk_wwn() {
    local devno
    read -r devno < "/sys/block/$1/dev"
    udev_property "$devno" ID_WWN_WITH_EXTENSION || udev_property "$devno" ID_WWN
}

# Each by-id link resolved once ("kernel-name TAB link" lines): installers run on slow consoles.
TAB=$(printf '\t')
for link in "$BY_ID"/*; do
    [ -L "$link" ] || continue
    target=$(readlink -f "$link")
    printf '%s\t%s\n' "${target#/dev/}" "$link"
done > "$tmp/links"

# Every /dev/disk/by-id link that points at the device, one per line.
by_id_links() {
    local target link
    while IFS=$TAB read -r target link; do
        [ "$target" = "$1" ] && printf '%s\n' "$link"
    done < "$tmp/links"
}

# Whole disks as lsblk types them: not loop, md, device-mapper, or an optical drive.
whole_disks() {
    local path name scsi_type
    for path in /sys/block/*; do
        name=${path##*/}
        case $name in loop*|md*|dm-*) continue ;; esac
        [ -r "$path/device/type" ] && read -r scsi_type < "$path/device/type" && [ "$scsi_type" = 5 ] && continue
        printf '%s\n' "$name"
    done
}

# Every name a disk answers to in --disk: serial, WWN, by-id path, /dev path, kernel name.
names_of() { printf '%s\n%s\n/dev/%s\n%s\n' "$(disk_serial "$1")" "$(disk_wwn "$1")" "$1" "$1"; by_id_links "$1"; }

# The allow-list entry naming the disk by a stable identity, never by its kernel name.
allowed_by() {
    local stable entry name
    stable="$(disk_serial "$1")$NL$(disk_wwn "$1")$NL$(by_id_links "$1")"
    IFS=$NL
    for entry in $allow; do
        for name in $stable; do
            if [ -n "$name" ] && { [ "$entry" = "$name" ] || [ "$BY_ID/$entry" = "$name" ]; }; then
                unset IFS; printf '%s' "$entry"; return 0
            fi
        done
    done
    unset IFS
    return 1
}

partitions_of() {
    local path part
    for path in "/sys/block/$1"/*/partition; do
        [ -e "$path" ] || continue
        part=${path%/partition}
        printf '%s\n' "${part##*/}"
    done
}

# Signature names are ASCII; busybox's tr may lack character classes.
# shellcheck disable=SC2018,SC2019
lower() { printf '%s' "$1" | tr 'A-Z' 'a-z'; }

evidence=""
add() { evidence="$evidence${evidence:+; }$*"; }

# wipefs's listing, completed by what blkid -p finds that wipefs does not list.
signature_evidence() {
    local device="$1" listed="" offset type rc key value seen
    if [ -n "$have_wipefs" ]; then
        if ! wipefs --no-act --noheadings --output OFFSET,TYPE "$device" > "$tmp/wipefs" 2> "$tmp/err"; then
            add "could not be probed ($device: wipefs: $(trim "$(cat "$tmp/err")")): treated as data"
            return
        fi
        while read -r offset type; do
            [ -n "$type" ] || continue
            add "$type at offset $((offset))"
            listed="$listed$type$NL"
        done < "$tmp/wipefs"
    fi
    [ -n "$have_blkid" ] || return
    blkid -p -o export "$device" > "$tmp/blkid" 2> "$tmp/err"
    rc=$?
    if [ "$rc" -eq 8 ]; then
        return  # several signatures: wipefs has listed them
    elif [ "$rc" -ne 0 ] && { [ "$rc" -ne 2 ] || [ -s "$tmp/err" ]; }; then
        add "could not be probed ($device: blkid exited with $rc: $(trim "$(cat "$tmp/err")")): treated as data"
        return
    fi
    while IFS='=' read -r key value; do
        case $key in TYPE|PTTYPE) ;; *) continue ;; esac
        seen=""
        IFS=$NL
        for type in $listed; do
            [ "$(lower "$type")" = "$(lower "$value")" ] && seen=1
        done
        unset IFS
        [ -n "$seen" ] || add "$value at an offset blkid does not report"
    done < "$tmp/blkid"
}

# Holders, mounts and active swap of the disk or partition NAME (sysfs directory SYSDIR).
use_evidence() {
    local name="$1" sysdir="$2" holder devno _id _parent majmin _root mountpoint _rest swapfile
    for holder in "$sysdir"/holders/*; do
        [ -e "$holder" ] && add "held by ${holder##*/}"
    done
    read -r devno < "$sysdir/dev"
    while read -r _id _parent majmin _root mountpoint _rest; do
        [ "$majmin" = "$devno" ] && add "mounted at $mountpoint"
    done < /proc/self/mountinfo
    while read -r swapfile _rest; do
        [ "$swapfile" = "/dev/$name" ] && add "in use as swap"
    done < /proc/swaps
}

# Non-zero bytes in the first or last EDGE_BYTES: unknown content is data, not blank.
edge_evidence() {
    local name="$1" sectors count where skip read_bytes nonzero
    read -r sectors < "/sys/block/$name/size"
    count=$((edge_bytes / 512))
    [ "$count" -le "$sectors" ] || count=$sectors
    for where in first last; do
        skip=0
        [ "$where" = last ] && skip=$((sectors - count))
        if ! dd if="/dev/$name" of="$tmp/edge" bs=512 skip="$skip" count="$count" 2> "$tmp/err"; then
            add "$where $edge_bytes bytes unreadable: $(trim "$(cat "$tmp/err")")"
            return
        fi
        read_bytes=$(wc -c < "$tmp/edge")
        if [ "$read_bytes" -ne $((count * 512)) ]; then
            add "$where $edge_bytes bytes unreadable: read $((read_bytes)) bytes"
            return
        fi
        nonzero=$(tr -d '\000' < "$tmp/edge" | wc -c)
        [ "$nonzero" -eq 0 ] || add "$((nonzero)) non-zero bytes in the $where $edge_bytes bytes, no known signature"
    done
    rm -f "$tmp/edge"
}

# Sector offsets of the samples, one per line, as _disk_guard.sample_offsets computes them:
# evenly spaced from just past the first edge to just before the last, the middle, then
# count/4 drawn from the seed by state = (1103515245 * state + 12345) mod 2^31.
sample_offsets() {
    local sectors="$1" edge length room index state draw
    edge=$((edge_bytes / 512)); length=$((sample_bytes / 512))
    room=$((sectors - 2 * edge - length))
    [ "$sample_count" -gt 0 ] && [ "$room" -ge 0 ] || return 0
    index=0
    while [ "$index" -lt "$sample_count" ]; do
        if [ "$sample_count" -gt 1 ]; then echo $((edge + index * room / (sample_count - 1))); else echo "$edge"; fi
        index=$((index + 1))
    done
    echo $((edge + room / 2))
    state=$((sample_seed % 2147483648)); draw=0
    while [ "$draw" -lt $((sample_count / 4)) ]; do
        state=$(( (1103515245 * state + 12345) % 2147483648 ))
        echo $((edge + state % (room + 1)))
        draw=$((draw + 1))
    done
}

# The first sample with a non-zero byte, or the first that cannot be read. Each sample is one
# dd piped into cmp against a file of zeros: two processes, which matters where a process costs
# milliseconds; bytes are only counted for the sample that differs.
sample_evidence() {
    local name="$1" sectors length start read_bytes nonzero
    read -r sectors < "/sys/block/$name/size"
    length=$((sample_bytes / 512))
    dd if=/dev/zero of="$tmp/zeros" bs=512 count="$length" 2> /dev/null
    for start in $(sample_offsets "$sectors" | sort -n | uniq); do
        dd if="/dev/$name" bs=512 skip="$start" count="$length" 2> "$tmp/err" | cmp -s - "$tmp/zeros" && continue
        if ! dd if="/dev/$name" of="$tmp/sample" bs=512 skip="$start" count="$length" 2> "$tmp/err"; then
            add "$sample_bytes bytes at offset $((start * 512)) unreadable: $(trim "$(cat "$tmp/err")")"
            return
        fi
        read_bytes=$(wc -c < "$tmp/sample")
        if [ "$read_bytes" -ne "$sample_bytes" ]; then
            add "$sample_bytes bytes at offset $((start * 512)) unreadable: read $((read_bytes)) bytes"
            return
        fi
        nonzero=$(tr -d '\000' < "$tmp/sample" | wc -c)
        add "$((nonzero)) non-zero bytes in $sample_bytes bytes sampled at offset $((start * 512)), no known signature"
        return
    done
    rm -f "$tmp/sample" "$tmp/zeros"
}

judge() {
    local name="$1" part
    evidence=""
    signature_evidence "/dev/$name"
    use_evidence "$name" "/sys/block/$name"
    for part in $(partitions_of "$name"); do
        add "has partition /dev/$part"
        signature_evidence "/dev/$part"
        use_evidence "$part" "/sys/block/$name/$part"
    done
    [ -n "$evidence" ] || edge_evidence "$name"
    [ -n "$evidence" ] || sample_evidence "$name"
}

disks=$(whole_disks)

if [ -n "$list_only" ]; then
    for name in $disks; do
        printf '%s\t%s\t%s' "$name" "$(disk_serial "$name")" "$(disk_wwn "$name")"
        for link in $(by_id_links "$name"); do printf '\t%s' "$link"; done
        printf '\n'
    done
    exit 0
fi

targets=""
missing=""
if [ -z "$requested" ]; then
    targets=$disks
else
    IFS=$NL
    for wanted in $requested; do
        match=""
        for name in $disks; do
            for alias in $(names_of "$name"); do
                [ "$alias" = "$wanted" ] && match=$name
            done
            [ -n "$match" ] && break
        done
        if [ -z "$match" ]; then
            missing="$missing$wanted$NL"
        else
            case "$NL$targets" in *"$NL$match$NL"*) ;; *) targets="$targets$match$NL" ;; esac
        fi
    done
    unset IFS
fi

status=0
IFS=$NL
for wanted in $missing; do
    say "no whole disk on this host is named $wanted; nothing was checked for it"
    status=2
done
for name in $targets; do
    unset IFS
    serial=$(disk_serial "$name")
    judge "$name"
    permitted=$(allowed_by "$name")
    if [ -n "$permitted" ]; then
        say "${serial:-$name} (/dev/$name): allowed by $permitted${evidence:+ (holds: $evidence)}"
    elif [ -z "$evidence" ]; then
        say "${serial:-$name} (/dev/$name): blank"
    else
        say "${serial:-$name} (/dev/$name): $evidence"
        [ "$status" -ne 0 ] || status=1
    fi
    IFS=$NL
done
unset IFS

case $status in
    0) say "passed: every target disk is blank or allow-listed (samples drawn from seed $sample_seed)" ;;
    1) say "refused: the disks above hold data; nothing was written. Allow-list a disk by serial, WWN or $BY_ID path only if its data may be destroyed" ;;
    *) say "refused: a listed disk does not exist; nothing was written" ;;
esac
exit "$status"
