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

// Any tracepoints or functions, chosen at run time (cgscope_empty_tracer --tp/--fexit): the
// floor for the NFS collector, whose tracepoints live in modules. Many copies in one object, so
// that one load (one parse of the kernel's BTF: seconds under emulation) attaches them all.
#define EMPTY_TP(n)                                                                 \
	SEC("tp_btf")                                                               \
	int BPF_PROG(empty_tp##n) { return 0; }
#define EMPTY_TP8(n)                                                                \
	EMPTY_TP(n##0) EMPTY_TP(n##1) EMPTY_TP(n##2) EMPTY_TP(n##3) EMPTY_TP(n##4) \
	EMPTY_TP(n##5) EMPTY_TP(n##6) EMPTY_TP(n##7)
EMPTY_TP8(0)
EMPTY_TP8(1)
EMPTY_TP8(2)
EMPTY_TP8(3)
EMPTY_TP8(4)
EMPTY_TP8(5)

#define EMPTY_FEXIT(n)                                                              \
	SEC("fexit")                                                                \
	int BPF_PROG(empty_fexit##n) { return 0; }
EMPTY_FEXIT(0)
EMPTY_FEXIT(1)
EMPTY_FEXIT(2)
EMPTY_FEXIT(3)
