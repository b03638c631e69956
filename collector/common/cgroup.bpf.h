// Which cgroup a task belongs to, shared by the collectors' BPF programs (BTF-typed tasks).
#pragma once

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#define CGSCOPE_PF_KTHREAD 0x00200000 /* include/linux/sched.h, stable since 2.6 */

// Cgroup v2 id of a task, or of its v1 cpu-controller cgroup on pure v1 hosts (`v1_cpu`).
static __always_inline __u64 task_cgroup_id_of(struct task_struct *t, bool v1_cpu)
{
	if (v1_cpu) {
		int cpu_id = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);

		return BPF_CORE_READ(t, cgroups, subsys[cpu_id], cgroup, kn, id);
	}
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

// Cgroup of the current task; bpf_get_current_cgroup_id() when keyed by v2 (cheaper).
static __always_inline __u64 current_cgroup_id_of(bool v1_cpu)
{
	if (v1_cpu)
		return task_cgroup_id_of(bpf_get_current_task_btf(), true);
	return bpf_get_current_cgroup_id();
}

static __always_inline bool current_is_kthread(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return t->flags & CGSCOPE_PF_KTHREAD;
}
