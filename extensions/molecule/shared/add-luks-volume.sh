#!/usr/bin/env bash
# add-luks-volume.sh DISK NAME DATA_FILE (passphrase in $PASSPHRASE): what an operator does to
# add an encrypted volume the initramfs must unlock. A LUKS2 volume on DISK, 4 MiB of random data
# written into it and their sha256 kept in DATA_FILE (so an unlock can show the content intact),
# and a crypttab line with `initramfs`. pbkdf2 with few iterations: argon2 needs seconds and
# memory under emulation, in the initramfs too.
set -euo pipefail
disk=$1 name=$2 data_file=$3
printf '%s' "$PASSPHRASE" | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 \
  --pbkdf-force-iterations 1000 "$disk" -
printf '%s' "$PASSPHRASE" | cryptsetup open "$disk" "$name" -
dd if=/dev/urandom of="/dev/mapper/$name" bs=1M count=4 oflag=direct status=none
dd if="/dev/mapper/$name" bs=1M count=4 iflag=direct status=none | sha256sum > "$data_file"
cryptsetup close "$name"
echo "$name UUID=$(cryptsetup luksUUID "$disk") none luks,initramfs" >> /etc/crypttab
