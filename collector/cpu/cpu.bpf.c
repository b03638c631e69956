// SPDX-License-Identifier: GPL-2.0
// CPU collector: per-cgroup on-CPU time, run-queue delay (wakeup->run and preempted->run),
// voluntary/involuntary switches and migrations, aggregated in the kernel.
//
// Variants, chosen at load time by the user-space wrapper (best first):
//   switch_btf_si  tp_btf on sched_switch only, reading the kernel's own accounting: on-CPU
//                  time from se.sum_exec_runtime, run-queue delay from sched_info (run_delay,
//                  last_queued) against rq->clock. No clock read, no wakeup program, one
//                  hash lookup per switch. Needs CONFIG_SCHED_INFO and FAIR_GROUP_SCHED.
//   *_btf_ts       tp_btf + task local storage (5.11+), bpf_ktime_get_ns() timestamps
//   *_btf_hash     tp_btf + LRU hash keyed by pid (kernels without task storage for tracing)
//   *_raw          raw tracepoints + LRU hash (kernels that refuse tp_btf)
// Hot-path rules: no map update/delete per event (only on first sight of a task or cgroup),
// per-CPU counters without atomics (sched_switch runs with IRQs off and does not nest).
// bpf_ktime_get_ns() costs ~100 ns under kvm-clock, a per-CPU hash lookup ~80 ns: the
// sched_info variant avoids the first and halves the second.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "collector/common/core_fixes.bpf.h"
#include "collector/common/log2.bpf.h"
#include "collector/cpu/cpu.h"

char LICENSE[] SEC("license") = "GPL";

// Key cgroups by the task's v1 cpu-controller cgroup instead of the v2 cgroup (pure v1 hosts,
// where every task is in the v2 root).
const volatile bool key_v1_cpu = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	// Not preallocated: a value is 704 bytes per possible CPU, so memory follows the cgroups
	// that exist, not max_entries (8192 x 704 B x 64 CPUs would be 370 MB up front).
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192); // set by user space before load
	__type(key, __u64);        // cgroup id
	__type(value, struct cpu_cgroup_stats);
} cgroup_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_running);
} running SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CPU_DROP_NR);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cpu_task_state);
} task_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); // set by user space before load
	__type(key, __u32);         // pid (thread id)
	__type(value, struct cpu_task_state);
} task_states_hash SEC(".maps");

static const struct cpu_cgroup_stats zero_stats;
static const struct cpu_task_state zero_task_state;

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline struct cpu_cgroup_stats *stats_of(__u64 cgroup_id)
{
	struct cpu_cgroup_stats *s = bpf_map_lookup_elem(&cgroup_stats, &cgroup_id);
	long err;

	if (s)
		return s;
	// First event of this cgroup: the only update on this path.
	err = bpf_map_update_elem(&cgroup_stats, &cgroup_id, &zero_stats, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: raced with another CPU */) {
		count_drop(CPU_DROP_CGROUP_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&cgroup_stats, &cgroup_id);
}

// Cgroup id of a task. `btf`: the pointer is BTF-typed (tp_btf), plain loads are allowed.
static __always_inline __u64 task_cgroup_id(struct task_struct *t, const bool btf)
{
	if (key_v1_cpu) {
		int cpu_id = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);

		if (btf)
			return t->cgroups->subsys[cpu_id]->cgroup->kn->id;
		return BPF_CORE_READ(t, cgroups, subsys[cpu_id], cgroup, kn, id);
	}
	if (btf)
		return t->cgroups->dfl_cgrp->kn->id;
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline __u32 task_pid(struct task_struct *t, const bool btf)
{
	if (btf)
		return t->pid;
	return BPF_CORE_READ(t, pid);
}

static __always_inline bool task_is_running(struct task_struct *t, const bool btf)
{
	if (btf) {
		if (bpf_core_field_exists(t->__state))
			return t->__state == 0;
		return ((struct task_struct___pre_5_14 *)t)->state == 0;
	}
	return task_state(t) == 0;
}

static __always_inline struct cpu_task_state *state_of(struct task_struct *t, __u32 pid,
						       const bool ts)
{
	struct cpu_task_state *st;

	if (ts) {
		st = bpf_task_storage_get(&task_states, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	} else {
		st = bpf_map_lookup_elem(&task_states_hash, &pid);
		if (!st) {
			bpf_map_update_elem(&task_states_hash, &pid, &zero_task_state, BPF_NOEXIST);
			st = bpf_map_lookup_elem(&task_states_hash, &pid);
		}
	}
	if (!st)
		count_drop(CPU_DROP_TASK_STATE);
	return st;
}

static __always_inline void charge_wait(struct cpu_cgroup_stats *s, __u32 kind, __u64 delay)
{
	__u32 slot = hist_slot(delay, CPU_HIST_SLOTS);

	if (kind == CPU_WAIT_WAKEUP) {
		s->wakeup_hist[slot]++;
		s->wakeup_delay_ns_sum += delay;
	} else {
		s->preempt_hist[slot]++;
		s->preempt_delay_ns_sum += delay;
	}
}

static __always_inline void on_wakeup(struct task_struct *p, const bool btf, const bool ts)
{
	__u32 pid = task_pid(p, btf);
	struct cpu_task_state *st;

	if (!pid)
		return;
	st = state_of(p, pid, ts);
	if (!st)
		return;
	st->runnable_since_ns = bpf_ktime_get_ns();
	st->wait_kind = CPU_WAIT_WAKEUP;
}

static __always_inline void on_switch(bool preempt, struct task_struct *prev,
				      struct task_struct *next, const bool btf, const bool ts)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0, prev_pid, next_pid;
	struct cpu_cgroup_stats *s;
	struct cpu_task_state *st;
	struct cpu_running *run;

	run = bpf_map_lookup_elem(&running, &zero);
	if (!run)
		return;

	prev_pid = task_pid(prev, btf);
	if (prev_pid) {
		// sched_switch fires before the switch: current is still prev.
		__u64 cgid = key_v1_cpu ? task_cgroup_id(prev, btf) : bpf_get_current_cgroup_id();
		bool runnable = preempt || task_is_running(prev, btf);

		s = stats_of(cgid);
		if (s) {
			if (run->since_ns)
				s->on_cpu_ns += now - run->since_ns;
			if (runnable)
				s->nr_involuntary++;
			else
				s->nr_voluntary++;
		}
		st = state_of(prev, prev_pid, ts);
		if (st) {
			// Also clears a stale wakeup stamp of a task woken while it still ran.
			st->runnable_since_ns = runnable ? now : 0;
			st->wait_kind = runnable ? CPU_WAIT_PREEMPT : CPU_WAIT_NONE;
		}
	}

	next_pid = task_pid(next, btf);
	if (!next_pid) {
		run->since_ns = 0;
		run->cgroup_id = 0;
		return;
	}
	__u64 next_cgid = task_cgroup_id(next, btf);

	run->since_ns = now;
	run->cgroup_id = next_cgid;

	st = state_of(next, next_pid, ts);
	if (!st)
		return;
	__u32 cpu_plus1 = bpf_get_smp_processor_id() + 1;
	__u32 kind = st->wait_kind;
	__u64 since = st->runnable_since_ns;
	bool migrated = st->last_cpu_plus1 && st->last_cpu_plus1 != cpu_plus1;

	st->wait_kind = CPU_WAIT_NONE;
	st->last_cpu_plus1 = cpu_plus1;
	if (!migrated && (kind == CPU_WAIT_NONE || !since))
		return;

	s = stats_of(next_cgid);
	if (!s)
		return;
	if (migrated)
		s->nr_migrations++;
	if (kind != CPU_WAIT_NONE && since && now > since)
		charge_wait(s, kind, now - since);
}

// sched_info variant. Charges prev's slice and the wait that preceded it (parked in the per-CPU
// slot at its switch-in), then parks next's wait.
static __always_inline void on_switch_sched_info(bool preempt, struct task_struct *prev,
						 struct task_struct *next)
{
	__u32 zero = 0, prev_pid = prev->pid, next_pid = next->pid;
	struct cpu_cgroup_stats *s;
	struct cpu_task_state *st;
	struct cpu_running *run;
	const struct rq *rq;

	run = bpf_map_lookup_elem(&running, &zero);
	if (!run)
		return;
	if (prev_pid) {
		// The slot holds prev's cgroup from its switch-in (a task that changed cgroup while
		// running is charged to the one it started in). The first switch on each CPU after
		// load has no slot yet: only the switch is counted then.
		bool tracked = run->pid == prev_pid;
		__u64 cgid = tracked ? run->cgroup_id :
			     key_v1_cpu ? task_cgroup_id(prev, true) : bpf_get_current_cgroup_id();

		s = stats_of(cgid);
		if (s) {
			if (tracked) {
				__u64 runtime = prev->se.sum_exec_runtime;

				if (runtime > run->start_runtime_ns)
					s->on_cpu_ns += runtime - run->start_runtime_ns;
				if (run->pending_kind)
					charge_wait(s, run->pending_kind, run->pending_delay_ns);
				if (run->pending_migrated)
					s->nr_migrations++;
			}
			if (preempt || task_is_running(prev, true))
				s->nr_involuntary++;
			else
				s->nr_voluntary++;
		}
	}

	run->pending_kind = CPU_WAIT_NONE;
	run->pending_migrated = 0;
	run->pid = next_pid;
	if (!next_pid) {
		run->cgroup_id = 0;
		return;
	}
	run->cgroup_id = task_cgroup_id(next, true);
	run->start_runtime_ns = next->se.sum_exec_runtime;

	st = bpf_task_storage_get(&task_states, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count_drop(CPU_DROP_TASK_STATE);
		return;
	}
	// This CPU's runqueue: prev runs here, and its cfs_rq is the one of this CPU (set_task_rq
	// follows every CPU change). No per-CPU ksym needed (kernels without KALLSYMS_ALL).
	rq = prev->se.cfs_rq->rq;
	// sched_info_arrive() runs after this tracepoint: last_queued still holds the enqueue
	// time and run_delay lacks this wait. run_delay also keeps the part of a wait spent on
	// another CPU's queue before a migration, which last_queued alone would lose.
	__u64 last_queued = next->sched_info.last_queued;
	__u64 run_delay = next->sched_info.run_delay;
	__u64 now = rq->clock;
	__u64 piece = last_queued && now > last_queued ? now - last_queued : 0;
	__u64 nivcsw = next->nivcsw;
	__u32 cpu_plus1 = rq->cpu + 1;
	bool seen = st->last_cpu_plus1 != 0;
	__u64 delay = piece;

	if (seen && run_delay >= st->run_delay_seen_ns)
		delay += run_delay - st->run_delay_seen_ns;
	st->run_delay_seen_ns = run_delay + piece;
	// A wait can be 0 ns by rq->clock: the kernel skips the clock update of a schedule() that
	// directly follows the wakeup that asked for it. It is still a wait: count it.
	if (last_queued || delay) {
		// nivcsw moved since the last switch-in: it left the CPU runnable (preempted).
		run->pending_kind = seen && nivcsw != st->nivcsw_seen ? CPU_WAIT_PREEMPT : CPU_WAIT_WAKEUP;
		run->pending_delay_ns = delay;
	}
	st->nivcsw_seen = nivcsw;
	run->pending_migrated = seen && st->last_cpu_plus1 != cpu_plus1;
	st->last_cpu_plus1 = cpu_plus1;
}

static __always_inline void on_exit(struct task_struct *p, const bool btf)
{
	__u32 pid = task_pid(p, btf);

	bpf_map_delete_elem(&task_states_hash, &pid);
}

// tp_btf, kernel accounting (sched_info) + task storage
SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf_si, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	// Where sched_info or cfs_rq->rq is missing, CO-RE fails this program's load and the
	// wrapper falls back to a clock-based variant.
	on_switch_sched_info(preempt, prev, next);
	return 0;
}

// tp_btf + task storage
SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf_ts, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(preempt, prev, next, true, true);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup_btf_ts, struct task_struct *p)
{
	on_wakeup(p, true, true);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new_btf_ts, struct task_struct *p)
{
	on_wakeup(p, true, true);
	return 0;
}

// tp_btf + LRU hash
SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf_hash, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(preempt, prev, next, true, false);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup_btf_hash, struct task_struct *p)
{
	on_wakeup(p, true, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new_btf_hash, struct task_struct *p)
{
	on_wakeup(p, true, false);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_btf_hash, struct task_struct *p)
{
	on_exit(p, true);
	return 0;
}

// raw tracepoints + LRU hash
SEC("raw_tp/sched_switch")
int BPF_PROG(switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(preempt, prev, next, false, false);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(wakeup_raw, struct task_struct *p)
{
	on_wakeup(p, false, false);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(wakeup_new_raw, struct task_struct *p)
{
	on_wakeup(p, false, false);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(exit_raw, struct task_struct *p)
{
	on_exit(p, false);
	return 0;
}
