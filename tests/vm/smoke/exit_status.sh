#!/usr/bin/env bash
# Payload of the vm exit-status test: proves it runs in the guest, then exits with 3, which
# run-in-guest.sh must return on the host.
echo "kernel $(uname -r)"
echo "cmdline $(cat /proc/cmdline)"
exit 3
