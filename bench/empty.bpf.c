// SPDX-License-Identifier: GPL-2.0
// The floor for collector cost: empty tp_btf programs on the tracepoints the collectors use.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

// CPU collector
SEC("tp_btf/sched_switch")
int BPF_PROG(empty_switch) { return 0; }

SEC("tp_btf/sched_wakeup")
int BPF_PROG(empty_wakeup) { return 0; }

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(empty_wakeup_new) { return 0; }

// I/O collector
SEC("tp_btf/block_io_start")
int BPF_PROG(empty_io_start) { return 0; }

SEC("tp_btf/block_rq_issue")
int BPF_PROG(empty_rq_issue) { return 0; }

SEC("tp_btf/block_rq_complete")
int BPF_PROG(empty_rq_complete) { return 0; }

// Memory collector (page cache)
SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(empty_get_pages) { return 0; }
