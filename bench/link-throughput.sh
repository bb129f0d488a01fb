#!/usr/bin/env bash
# link-throughput.sh — SFTP upload throughput of a 100 MB random file over
# loopback: vigia's node client -> vigia's server against OpenSSH scp ->
# a stock sshd (started on a free port with its own config), same run, plus
# the crossed pairs (OpenSSH sftp -> vigia server, vigia client -> sshd) to
# tell client from server. Prints MB/s (median of 3) and the ratio (goal
# >= 0.9); asserts nothing. The code is crates/vigia-link/benches/link_throughput.rs.
#
# usage: bench/link-throughput.sh
# needs: openssh-server openssh-client (apt-get install openssh-server), cargo
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/sbin/sshd ] || echo "[link-throughput] no /usr/sbin/sshd: only vigia's figures (apt-get install openssh-server)" >&2
exec cargo bench -p vigia-link --bench link_throughput
