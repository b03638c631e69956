// SPDX-License-Identifier: GPL-2.0
// CPU collector: per-cgroup on-CPU time, run-queue delay (wakeup->run and preempted->run),
// voluntary/involuntary switches and migrations, aggregated in the kernel.
//
// Variants, chosen at load time by the user-space wrapper (best first):
//   switch_btf_si  tp_btf on sched_switch, reading the kernel's own accounting: on-CPU time
//                  from se.sum_exec_runtime, run-queue delay from sched_info (run_delay,
//                  last_queued) against rq->clock, corrected where rq->clock is stale (see
//                  wakeup_btf_si). No clock read on most switches. Needs CONFIG_SCHED_INFO
//                  and FAIR_GROUP_SCHED.
//   *_btf_ts       tp_btf + task local storage (5.11+), bpf_ktime_get_ns() timestamps
//   *_btf_hash     tp_btf + LRU hash keyed by pid (kernels without task storage for tracing)
//   *_raw          raw tracepoints + LRU hash (kernels that refuse tp_btf)
// Hot-path rules: no map update/delete per event (only on first sight of a task or cgroup),
// per-CPU counters without atomics (sched_switch runs with IRQs off and does not nest).
//
// Run-delay blame: each wait is also charged to the cgroup that held the CPU when it began,
// remembered for the task at that moment and charged with the wait. Preempted: the cgroup of
// `next` of the switch that took its CPU. Woken: the cgroup running on the CPU it was queued on
// (0 when idle). Every mode knows both. The clock modes keep the holder in the task's state
// (the wakeup reads the `running` record of task_cpu(p)). sched_info mode has no per-task
// lookup on wakeups or switch-outs, and adding one cost ~50 ns per wakeup here: it keeps the
// holder in wait_holders, an array indexed by pid (see cpu.h), which its wakeup programs and
// involuntary switches write and its switch-ins read. Unknown (charged to 0): a wait whose
// wait_holders entry another task took meanwhile (sched_info mode), of a task whose state could
// not be created (clock modes, counted as task_state_unavailable), and waits after wakeups on
// kernels without bpf_map_lookup_percpu_elem (before 5.19, clock modes).
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
// CLOCK_MONOTONIC when the programs were attached (set by user space just before).
__u64 attached_ns;

// Per-cgroup stats live in a per-CPU array, one slot per cgroup: a lookup the verifier
// inlines, instead of a per-CPU hash lookup (~80 ns here) on every switch. The slot of a
// cgroup is found once through cgroup_slot and then cached in the task's storage and in the
// per-CPU running slot. Free slots come from a queue that user space fills at start and
// refills when cgroups vanish (after zeroing the slot).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1024); // set by user space before load
	__type(key, __u32);
	__type(value, struct cpu_cgroup_stats);
} slot_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); // set by user space before load
	__type(key, __u64);        // cgroup id
	__type(value, __u32);      // slot
} cgroup_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1024); // set by user space before load
	__type(value, __u32);
} free_slots SEC(".maps");

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

// sched_info mode: per runqueue (by CPU), see wakeup_btf_si. An array: an inlined lookup.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); // set by user space before load: the possible CPUs
	__type(key, __u32);
	__type(value, struct cpu_rq_stamp);
} rq_stamps SEC(".maps");

#define RQCF_REQ_SKIP 0x01

// sched_info mode: the holder of each task's current wait, by pid (see cpu.h). An array: an
// inlined lookup, on any CPU.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CPU_WAIT_HOLDER_SLOTS); // 1 in the other modes (set by user space)
	__type(key, __u32);
	__type(value, struct cpu_wait_holder);
} wait_holders SEC(".maps");

static __always_inline void note_wait_holder(__u32 pid, __u64 holder)
{
	__u32 idx = pid & (CPU_WAIT_HOLDER_SLOTS - 1);
	struct cpu_wait_holder *h = bpf_map_lookup_elem(&wait_holders, &idx);

	if (h) {
		h->pid = pid;
		h->cgroup_id = holder;
	}
}

// The holder noted for pid's wait, 0 if its entry was taken by another task since.
static __always_inline __u64 wait_holder_of(__u32 pid)
{
	__u32 idx = pid & (CPU_WAIT_HOLDER_SLOTS - 1);
	struct cpu_wait_holder *h = bpf_map_lookup_elem(&wait_holders, &idx);

	return h && h->pid == pid ? h->cgroup_id : 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); // set by user space before load
	__type(key, __u32);         // pid (thread id)
	__type(value, struct cpu_task_state);
} task_states_hash SEC(".maps");

static const struct cpu_task_state zero_task_state;

// Kernel 5.16 (bcf9033e5449 "sched: move CPU field back into thread_info if
// THREAD_INFO_IN_TASK") moved task_struct::cpu to thread_info::cpu where thread_info is in the
// task (x86, arm64).
struct task_struct___cpu {
	unsigned int cpu;
} __attribute__((preserve_access_index));

// task_cpu(p): the CPU whose runqueue p is on (set before the wakeup tracepoints fire).
static __always_inline __u32 task_cpu_of(struct task_struct *p, const bool btf)
{
	if (bpf_core_field_exists(p->thread_info.cpu)) {
		if (btf)
			return p->thread_info.cpu;
		return BPF_CORE_READ(p, thread_info.cpu);
	}
	if (btf)
		return ((struct task_struct___cpu *)p)->cpu;
	return BPF_CORE_READ((struct task_struct___cpu *)p, cpu);
}

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		__sync_fetch_and_add(n, 1);
}

// Slot of a cgroup, allocating one on first sight (the only map update on this path).
static __always_inline int slot_of(__u64 cgroup_id, __u32 *slot)
{
	__u32 *found = bpf_map_lookup_elem(&cgroup_slot, &cgroup_id);
	__u32 fresh;

	if (found) {
		*slot = *found;
		return 0;
	}
	if (bpf_map_pop_elem(&free_slots, &fresh)) {
		count_drop(CPU_DROP_CGROUP_MAP_FULL);
		return -1;
	}
	if (bpf_map_update_elem(&cgroup_slot, &cgroup_id, &fresh, BPF_NOEXIST)) {
		// Another CPU got there first (or the map is full): give ours back.
		bpf_map_push_elem(&free_slots, &fresh, 0);
		found = bpf_map_lookup_elem(&cgroup_slot, &cgroup_id);
		if (!found) {
			count_drop(CPU_DROP_CGROUP_MAP_FULL);
			return -1;
		}
		fresh = *found;
	}
	*slot = fresh;
	return 0;
}

static __always_inline struct cpu_cgroup_stats *stats_at(__u32 slot)
{
	return bpf_map_lookup_elem(&slot_stats, &slot);
}

static __always_inline struct cpu_cgroup_stats *stats_of(__u64 cgroup_id)
{
	__u32 slot;

	return slot_of(cgroup_id, &slot) ? NULL : stats_at(slot);
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

static __always_inline bool task_in_iowait(struct task_struct *t, const bool btf)
{
	if (!bpf_core_field_exists(t->in_iowait))
		return false;
	if (btf)
		return BPF_CORE_READ_BITFIELD(t, in_iowait);
	return BPF_CORE_READ_BITFIELD_PROBED(t, in_iowait);
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

// Cgroup of the task running on `cpu` now (0: idle, or unknown), for a wait that begins there.
// A racy read of another CPU's record is fine: its switches hold that runqueue's lock, and so
// do the wakeups that queue a task on it.
static __always_inline __u64 holder_on_cpu(__u32 cpu)
{
	__u32 zero = 0;
	struct cpu_running *run;

	// Before 5.19 the helper is missing: the branch is dead code and such waits go to 0.
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_map_lookup_percpu_elem))
		return 0;
	run = bpf_map_lookup_percpu_elem(&running, &zero, cpu);
	return run ? run->cgroup_id : 0;
}

// The holder's entry among the first CPU_BLAME_TOP_K of this slot on this CPU, else the
// overflow. Entries fill in order and are only cleared with the whole slot, so the first unused
// one ends the search. User space reproduces this choice for the wait parked in `running`
// (cpu.cpp, collect()): change both together.
static __always_inline void charge_blame(struct cpu_cgroup_stats *s, __u64 holder, __u64 delay)
{
#pragma unroll
	for (int i = 0; i < CPU_BLAME_TOP_K; i++) {
		struct cpu_blame_entry *e = &s->blame[i];

		if (!e->waits) {
			e->cgroup_id = holder;
			e->wait_ns = delay;
			e->waits = 1;
			return;
		}
		if (e->cgroup_id == holder) {
			e->wait_ns += delay;
			e->waits++;
			return;
		}
	}
	s->blame_overflow_ns += delay;
	s->blame_overflow_waits++;
}

static __always_inline void charge_wait(struct cpu_cgroup_stats *s, __u32 kind, __u64 delay,
					__u64 holder)
{
	__u32 slot = hist_slot(delay, CPU_HIST_SLOTS);

	if (kind == CPU_WAIT_WAKEUP) {
		s->wakeup_hist[slot]++;
		s->wakeup_delay_ns_sum += delay;
	} else {
		s->preempt_hist[slot]++;
		s->preempt_delay_ns_sum += delay;
	}
	charge_blame(s, holder, delay);
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
	st->holder_id = holder_on_cpu(task_cpu_of(p, btf));
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

	next_pid = task_pid(next, btf);
	// next holds the CPU from now on: prev's wait, if it is preempted, is behind it.
	__u64 next_cgid = next_pid ? task_cgroup_id(next, btf) : 0;

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
			st->iowait_since_ns = !runnable && task_in_iowait(prev, btf) ? now : 0;
			if (runnable)
				st->holder_id = next_cgid;
		}
	}

	if (!next_pid) {
		run->since_ns = 0;
		run->cgroup_id = 0;
		return;
	}
	run->since_ns = now;
	run->cgroup_id = next_cgid;

	st = state_of(next, next_pid, ts);
	if (!st)
		return;
	__u32 cpu_plus1 = bpf_get_smp_processor_id() + 1;
	__u32 kind = st->wait_kind;
	__u64 since = st->runnable_since_ns;
	bool migrated = st->last_cpu_plus1 && st->last_cpu_plus1 != cpu_plus1;

	__u64 iowait_since = st->iowait_since_ns;
	__u64 holder = st->holder_id;

	st->wait_kind = CPU_WAIT_NONE;
	st->last_cpu_plus1 = cpu_plus1;
	st->iowait_since_ns = 0;
	if (!migrated && (kind == CPU_WAIT_NONE || !since))
		return;

	s = stats_of(next_cgid);
	if (!s)
		return;
	if (migrated)
		s->nr_migrations++;
	if (kind != CPU_WAIT_NONE && since && now > since)
		charge_wait(s, kind, now - since, holder);
	// Blocked in I/O wait until the wakeup that made it runnable.
	// Counted even when the clocks say 0 ns (woken on a CPU whose clock is behind): it waited.
	if (kind == CPU_WAIT_WAKEUP && iowait_since) {
		if (since > iowait_since)
			s->iowait_ns += since - iowait_since;
		s->iowait_count++;
	}
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
	__u64 next_cgid = next_pid ? task_cgroup_id(next, true) : 0;
	bool prev_runnable = prev_pid && (preempt || task_is_running(prev, true));

	if (prev_pid) {
		// Preempted: its wait begins here, behind next.
		if (prev_runnable)
			note_wait_holder(prev_pid, next_cgid);
		// The running slot holds prev's cgroup and stats slot from its switch-in (a task that
		// changed cgroup while running is charged to the one it started in). The first switch
		// on each CPU after load has no slot yet: only the switch is counted then.
		bool tracked = run->pid == prev_pid && run->slot_valid;

		if (!tracked)
			count_drop(CPU_DROP_UNTRACKED_SLICE);

		if (tracked)
			s = stats_at(run->slot);
		else
			s = stats_of(key_v1_cpu ? task_cgroup_id(prev, true) : bpf_get_current_cgroup_id());
		if (s) {
			if (!tracked) {
				// Its switch-in was not seen (the first switch on a CPU after attach; rarely,
				// a switch the tracepoint did not report). The kernel's own start of the
				// slice (set when the task was picked) gives its time, since attach at most.
				__u64 runtime = prev->se.sum_exec_runtime;
				__u64 start = prev->se.prev_sum_exec_runtime;
				__u64 since = bpf_ktime_get_ns() - attached_ns;

				if (runtime > start)
					s->on_cpu_ns += runtime - start < since ? runtime - start : since;
			}
			if (tracked) {
				__u64 runtime = prev->se.sum_exec_runtime;

				if (runtime > run->start_runtime_ns)
					s->on_cpu_ns += runtime - run->start_runtime_ns;
				if (run->pending_kind)
					charge_wait(s, run->pending_kind, run->pending_delay_ns,
						    run->pending_holder_id);
				if (run->pending_migrated)
					s->nr_migrations++;
				if (run->pending_iowait_ns) {
					s->iowait_ns += run->pending_iowait_ns;
					s->iowait_count++;
				}
			}
			if (prev_runnable)
				s->nr_involuntary++;
			else
				s->nr_voluntary++;
		}
		// Blocking in I/O wait: remember when (rare enough for the extra lookup).
		if (!prev_runnable && task_in_iowait(prev, true)) {
			struct cpu_task_state *pst = bpf_task_storage_get(&task_states, prev, 0, 0);

			if (pst)
				pst->iowait_since_ns = prev->se.cfs_rq->rq->clock;
		}
	}

	run->pending_kind = CPU_WAIT_NONE;
	run->pending_migrated = 0;
	run->pending_iowait_ns = 0;
	run->slot_valid = 0;
	run->pid = next_pid;
	if (!next_pid) {
		run->cgroup_id = 0;
		return;
	}
	run->cgroup_id = next_cgid;
	run->start_runtime_ns = next->se.sum_exec_runtime;

	st = bpf_task_storage_get(&task_states, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count_drop(CPU_DROP_TASK_STATE);
		return;
	}
	if (st->cgroup_id != next_cgid) { // cgroup ids are never 0: a new state resolves too
		__u32 slot;

		if (slot_of(next_cgid, &slot))
			return;
		st->cgroup_id = next_cgid;
		st->slot = slot;
	}
	run->slot = st->slot;
	run->slot_valid = 1;

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
	__u32 cpu = rq->cpu;
	__u32 cpu_plus1 = cpu + 1;
	bool seen = st->last_cpu_plus1 != 0;
	__u64 delay = piece;

	if (seen && run_delay >= st->run_delay_seen_ns)
		delay += run_delay - st->run_delay_seen_ns;
	st->run_delay_seen_ns = run_delay + piece;

	// The kernel skips the clock update of a schedule() that directly follows a wakeup which
	// preempts the running task (wakeup_preempt -> rq_clock_skip_update): rq->clock then still
	// reads the wakeup's time, and this wait would end too early by the time since (most short
	// wakeup waits read 0 ns), while prev's next wait, queued at the same stale time, would
	// read that much too long. The wakeup program stamped that clock with the real time: when
	// rq->clock has not moved since, the real time since tells how stale it is.
	struct cpu_rq_stamp *stamp = bpf_map_lookup_elem(&rq_stamps, &cpu);

	if (stamp && stamp->clock == now && now) {
		__u64 real = bpf_ktime_get_ns();
		__u64 stale = real > stamp->real_ns ? real - stamp->real_ns : 0;

		stamp->clock = 0; // once: the next schedule() updates the clock
		if (last_queued || delay)
			delay += stale;
		if (stale && prev_runnable) {
			struct cpu_task_state *pst = bpf_task_storage_get(&task_states, prev, 0, 0);

			if (pst)
				pst->stale_queued_ns = stale;
		}
	}
	// Preempted by such a switch: its wait began at the switch, not at the stale clock.
	if (st->stale_queued_ns) {
		delay = delay > st->stale_queued_ns ? delay - st->stale_queued_ns : 0;
		st->stale_queued_ns = 0;
	}
	// A wait can be 0 ns by rq->clock: the kernel skips the clock update of a schedule() that
	// directly follows the wakeup that asked for it. It is still a wait: count it.
	if (last_queued || delay) {
		// nivcsw moved since the last switch-in: it left the CPU runnable (preempted).
		run->pending_kind = seen && nivcsw != st->nivcsw_seen ? CPU_WAIT_PREEMPT : CPU_WAIT_WAKEUP;
		run->pending_delay_ns = delay;
		run->pending_holder_id = wait_holder_of(next_pid);
	}
	st->nivcsw_seen = nivcsw;
	if (st->iowait_since_ns) {
		// It slept in I/O wait until it was queued again (last_queued: the wakeup's enqueue).
		__u64 woke = last_queued ? last_queued : now;

		// 1 ns at least: woken on a CPU whose clock is behind, it still waited (counted).
		run->pending_iowait_ns = woke > st->iowait_since_ns ? woke - st->iowait_since_ns : 1;
		st->iowait_since_ns = 0;
	}
	run->pending_migrated = seen && st->last_cpu_plus1 != cpu_plus1;
	st->last_cpu_plus1 = cpu_plus1;
}

static __always_inline void on_exit(struct task_struct *p, const bool btf)
{
	__u32 pid = task_pid(p, btf);

	bpf_map_delete_elem(&task_states_hash, &pid);
}

// sched_info mode: the holder of the wait that begins with this wakeup: who runs on the
// runqueue p is queued on. rq->curr is what the `running` record of that CPU names (both change
// at a switch, under this runqueue's lock, which the wakeup holds too), and its loads cost less
// than the helper that reads another CPU's record.
static __always_inline void note_wakeup_holder_si(struct task_struct *p, const struct rq *rq)
{
	struct task_struct *curr = rq->curr;

	note_wait_holder(p->pid, curr && curr->pid ? task_cgroup_id(curr, true) : 0); // idle: pid 0
}

// sched_info mode: a wakeup that asked the next schedule() on its runqueue to skip the clock
// update (wakeup_preempt runs before this tracepoint) stamps the runqueue clock, just updated
// for this wakeup, with the real time. Every wakeup notes its holder.
SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup_btf_si, struct task_struct *p)
{
	if (!p)
		return 0;
	const struct rq *rq = p->se.cfs_rq->rq;
	__u32 cpu = rq->cpu;

	if (rq->clock_update_flags & RQCF_REQ_SKIP) {
		struct cpu_rq_stamp *stamp = bpf_map_lookup_elem(&rq_stamps, &cpu);

		if (stamp) {
			stamp->clock = rq->clock;
			stamp->real_ns = bpf_ktime_get_ns();
		}
	}
	note_wakeup_holder_si(p, rq);
	return 0;
}

// sched_info mode: a new task's first wait (queued by wake_up_new_task), behind whoever runs on
// the CPU chosen for it.
SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new_btf_si, struct task_struct *p)
{
	if (!p)
		return 0;
	note_wakeup_holder_si(p, p->se.cfs_rq->rq);
	return 0;
}

// tp_btf, kernel accounting (sched_info) + task storage
SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf_si, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (!prev || !next) // arguments may be NULL to the verifier of some kernels (6.12)
		return 0;
	// Where sched_info or cfs_rq->rq is missing, CO-RE fails this program's load and the
	// wrapper falls back to a clock-based variant.
	on_switch_sched_info(preempt, prev, next);
	return 0;
}

// tp_btf + task storage
SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf_ts, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (!prev || !next) // arguments may be NULL to the verifier of some kernels (6.12)
		return 0;
	on_switch(preempt, prev, next, true, true);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup_btf_ts, struct task_struct *p)
{
	if (!p)
		return 0;
	on_wakeup(p, true, true);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new_btf_ts, struct task_struct *p)
{
	if (!p)
		return 0;
	on_wakeup(p, true, true);
	return 0;
}

// tp_btf + LRU hash
SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf_hash, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (!prev || !next) // arguments may be NULL to the verifier of some kernels (6.12)
		return 0;
	on_switch(preempt, prev, next, true, false);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup_btf_hash, struct task_struct *p)
{
	if (!p)
		return 0;
	on_wakeup(p, true, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new_btf_hash, struct task_struct *p)
{
	if (!p)
		return 0;
	on_wakeup(p, true, false);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_btf_hash, struct task_struct *p)
{
	if (!p)
		return 0;
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
