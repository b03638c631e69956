// SPDX-License-Identifier: GPL-2.0
// A program every kernel's verifier rejects: a map value used without the NULL check the
// verifier demands. For the test that a rejection reaches the user as the verifier's verdict.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(rejected_switch)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &zero);

	*n += 1; // no NULL check: "R0 invalid mem access 'map_value_or_null'"
	return 0;
}
