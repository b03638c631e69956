// SPDX-License-Identifier: GPL-2.0
// Profiler: stacks per cgroup, aggregated in the kernel.
//
//   on_cpu_sample   perf_event (cpu-clock or cycles, one event per CPU): counts
//                   (cgroup, process, thread name, user stack id, kernel stack id)
//   off_cpu_switch  tp_btf/sched_switch, only on request: the time a task spends blocked,
//                   keyed the same way by the stacks it blocked in
//
// Stacks live in BPF_MAP_TYPE_STACK_TRACE maps; user space symbolizes them. A process is
// announced through a ring buffer the first time it is seen (and when its address space
// changes: exec, pid reuse) so user space reads its /proc/PID/maps while it still exists.
// Every loss is counted per CPU (enum profile_stat).
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "collector/common/core_fixes.bpf.h"
#include "collector/profile/profile.h"

char LICENSE[] SEC("license") = "GPL";

// errno values returned by bpf_get_stackid() / map updates (vmlinux.h has no macros).
#define EEXIST 17
#define ENOMEM 12
#define E2BIG 7

// Only cgroups in wanted_cgroups, or below one of them, are recorded.
const volatile bool filter_cgroups = false;
// Off-CPU intervals shorter than this are counted (PROFILE_STAT_OFF_CPU_SHORT), not recorded.
const volatile __u64 off_cpu_min_ns = 0;

// On-CPU stacks and counts come in two sets; samples go to the active one while user space
// drains the other (every second), so a set only has to hold one interval's distinct stacks
// and reading never races with updates. Off-CPU uses set 0 only: a block can span any
// number of intervals, and its stack ids must stay valid until it ends.
#define STACK_MAP(name)                                                            \
	struct {                                                                   \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                            \
		__uint(max_entries, 8192); /* set by user space before load */    \
		__uint(key_size, sizeof(__u32));                                   \
		__uint(value_size, PROFILE_MAX_STACK_DEPTH * sizeof(__u64));       \
	} name SEC(".maps")
#define COUNT_MAP(name)                                                            \
	struct {                                                                   \
		__uint(type, BPF_MAP_TYPE_HASH);                                   \
		__uint(max_entries, 16384); /* set by user space before load */   \
		__type(key, struct profile_key);                                   \
		__type(value, __u64); /* samples */                                \
	} name SEC(".maps")
STACK_MAP(stacks0);
STACK_MAP(stacks1);
COUNT_MAP(on_cpu_counts0);
COUNT_MAP(on_cpu_counts1);

// Which set samples go to (0 or 1); flipped by user space through the mmap'ed .bss.
volatile __u32 active_set = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); // set by user space before load
	__type(key, struct profile_key);
	__type(value, struct profile_off_cpu_value);
} off_cpu_time SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); // set by user space before load
	__type(key, __u64);        // cgroup id
	__type(value, __u8);
} wanted_cgroups SEC(".maps");

// LRU: a process that stopped running ages out; if it runs again it is announced again.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); // set by user space before load
	__type(key, __u32);         // tgid
	__type(value, struct profile_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} proc_events SEC(".maps");

// Instances are unique without atomics: a per-CPU sequence number, tagged with the CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} instance_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct profile_off_cpu_start);
} off_cpu_starts SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &stat);

	if (n)
		(*n)++; // per CPU; these programs do not nest on one CPU
}

// Is the current task's cgroup, or one of its ancestors, asked for?
static __always_inline bool wanted(__u64 cgroup_id)
{
	if (!filter_cgroups || bpf_map_lookup_elem(&wanted_cgroups, &cgroup_id))
		return true;
	for (int level = 0; level < PROFILE_MAX_CGROUP_LEVELS; level++) {
		__u64 ancestor = bpf_get_current_ancestor_cgroup_id(level);

		if (!ancestor || ancestor == cgroup_id) // past the task's own level
			break;
		if (bpf_map_lookup_elem(&wanted_cgroups, &ancestor))
			return true;
	}
	return false;
}

// The instance of a process's current address space; announces new ones. 0 for kernel threads.
static __always_inline __u32 proc_instance(__u32 tgid, struct task_struct *task)
{
	__u64 mm = (__u64)task->mm;
	struct profile_proc *p, fresh = {};
	struct profile_proc_event *ev;
	__u32 zero = 0, *seq;

	if (!mm)
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p && p->mm == mm)
		return p->instance;
	seq = bpf_map_lookup_elem(&instance_seq, &zero);
	if (!seq)
		return 0;
	*seq += 1;
	fresh.mm = mm;
	fresh.instance = (*seq << 10) | (bpf_get_smp_processor_id() & 0x3ff);
	bpf_map_update_elem(&procs, &tgid, &fresh, BPF_ANY);
	ev = bpf_ringbuf_reserve(&proc_events, sizeof(*ev), 0);
	if (!ev) {
		count(PROFILE_STAT_PROC_EVENT_LOST);
		return fresh.instance;
	}
	ev->tgid = tgid;
	ev->instance = fresh.instance;
	// Wakes user space: at most once per new process, so it reads the maps in time.
	bpf_ringbuf_submit(ev, 0);
	return fresh.instance;
}

static __always_inline __s32 stack_id(void *ctx, bool user, __u32 set)
{
	__u64 flags = user ? BPF_F_USER_STACK : 0;
	long id;

	if (set)
		id = bpf_get_stackid(ctx, &stacks1, flags);
	else
		id = bpf_get_stackid(ctx, &stacks0, flags);

	if (id >= 0)
		return id;
	if (id == -EEXIST)
		count(user ? PROFILE_STAT_USER_STACK_COLLISION : PROFILE_STAT_KERNEL_STACK_COLLISION);
	else if (id == -ENOMEM)
		count(user ? PROFILE_STAT_USER_STACK_FULL : PROFILE_STAT_KERNEL_STACK_FULL);
	else
		count(user ? PROFILE_STAT_USER_STACK_ERROR : PROFILE_STAT_KERNEL_STACK_ERROR);
	return id;
}

// Fills the key for the current task (cgroup filter already passed).
static __always_inline void fill_key(void *ctx, struct profile_key *key, __u64 cgroup_id,
				     struct task_struct *task, __u32 set)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	key->cgroup_id = cgroup_id;
	key->tgid = tgid;
	key->instance = proc_instance(tgid, task);
	key->kernel_stack_id = stack_id(ctx, false, set);
	key->user_stack_id = key->instance ? stack_id(ctx, true, set) : PROFILE_STACK_NONE;
	bpf_get_current_comm(key->comm, sizeof(key->comm));
}

static __always_inline long add_sample(void *counts, struct profile_key *key)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(counts, key);
	long err;

	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	err = bpf_map_update_elem(counts, key, &one, BPF_NOEXIST);
	if (err == -EEXIST) { // another CPU added it meanwhile
		n = bpf_map_lookup_elem(counts, key);
		if (n) {
			__sync_fetch_and_add(n, 1);
			err = 0;
		}
	}
	return err;
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	struct profile_key key = {};
	__u32 set = active_set & 1; // read once: stacks and count go to the same set
	__u64 cgroup_id;
	long err;

	if (!(__u32)bpf_get_current_pid_tgid()) // idle (excluded by the event; kept for safety)
		return 0;
	count(PROFILE_STAT_SAMPLES);
	cgroup_id = bpf_get_current_cgroup_id();
	if (!wanted(cgroup_id)) {
		count(PROFILE_STAT_FILTERED);
		return 0;
	}
	fill_key(ctx, &key, cgroup_id, bpf_get_current_task_btf(), set);
	if (set)
		err = add_sample(&on_cpu_counts1, &key);
	else
		err = add_sample(&on_cpu_counts0, &key);
	count(err ? PROFILE_STAT_COUNT_MAP_FULL : PROFILE_STAT_RECORDED);
	return 0;
}

static __always_inline bool task_blocks(bool preempt, struct task_struct *prev)
{
	if (preempt)
		return false;
	if (bpf_core_field_exists(prev->__state))
		return prev->__state != 0;
	return ((struct task_struct___pre_5_14 *)prev)->state != 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(off_cpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct profile_off_cpu_start *st;
	__u64 now = bpf_ktime_get_ns();

	// prev blocks: note where (sched_switch runs in prev's context, so the stacks are prev's).
	if (prev->pid && task_blocks(preempt, prev)) {
		__u64 cgroup_id = bpf_get_current_cgroup_id();

		count(PROFILE_STAT_OFF_CPU_BLOCKS);
		if (!wanted(cgroup_id)) {
			count(PROFILE_STAT_FILTERED);
		} else {
			st = bpf_task_storage_get(&off_cpu_starts, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (!st) {
				count(PROFILE_STAT_OFF_CPU_NO_STORAGE);
			} else {
				fill_key(ctx, &st->key, cgroup_id, prev, 0);
				st->start_ns = now;
			}
		}
	}

	// next runs again: charge the time it was blocked.
	if (!next->pid)
		return 0;
	st = bpf_task_storage_get(&off_cpu_starts, next, 0, 0);
	if (!st || !st->start_ns)
		return 0;
	__u64 blocked_ns = now - st->start_ns;

	st->start_ns = 0;
	if (blocked_ns < off_cpu_min_ns) {
		count(PROFILE_STAT_OFF_CPU_SHORT);
		return 0;
	}
	struct profile_off_cpu_value *v = bpf_map_lookup_elem(&off_cpu_time, &st->key);

	if (!v) {
		struct profile_off_cpu_value fresh = {};

		if (bpf_map_update_elem(&off_cpu_time, &st->key, &fresh, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&off_cpu_time, &st->key)) {
			count(PROFILE_STAT_COUNT_MAP_FULL);
			return 0;
		}
		v = bpf_map_lookup_elem(&off_cpu_time, &st->key);
		if (!v) {
			count(PROFILE_STAT_COUNT_MAP_FULL);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->total_ns, blocked_ns);
	__sync_fetch_and_add(&v->count, 1);
	count(PROFILE_STAT_RECORDED);
	return 0;
}
