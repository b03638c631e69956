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

// --unwind dwarf: bytes of user stack copied per sample (0 = frame pointers only), and the
// size of the ring buffer that carries the copies.
const volatile __u32 stack_copy_bytes = 0;
const volatile __u64 stack_ring_bytes = 0;

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

// Samples with stack copies (--unwind dwarf); sized by user space (1 byte when unused).
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} stack_samples SEC(".maps");

// Where a record is assembled before it is copied into the ring buffer: one slot per CPU
// (a per-CPU array's values are limited to 32 KiB; these programs do not nest on one CPU).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); // set by user space: the number of possible CPUs
	__type(key, __u32);
	__type(value, struct profile_stack_sample);
} stack_scratch SEC(".maps");

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

// Copies the top of the user stack, from sp upwards, page by page: a read that crosses into an
// unmapped page (above the stack's top) fails as a whole, so each read stays within one page.
static __always_inline __u32 copy_user_stack(struct profile_stack_sample *s, __u64 sp)
{
	__u32 copied = 0;

	for (int i = 0; i < PROFILE_MAX_STACK_COPY / PROFILE_PAGE + 1; i++) {
		__u64 addr = sp + copied;
		__u32 len = PROFILE_PAGE - (addr & (PROFILE_PAGE - 1));

		if (copied >= stack_copy_bytes || copied >= PROFILE_MAX_STACK_COPY)
			break;
		if (len > stack_copy_bytes - copied)
			len = stack_copy_bytes - copied;
		if (len > PROFILE_PAGE)
			len = PROFILE_PAGE;
		if (bpf_probe_read_user(&s->stack[copied & (PROFILE_MAX_STACK_COPY - 1)], len, (void *)addr))
			break;
		copied += len;
	}
	return copied;
}

// --unwind dwarf: sends the sample with its user registers and a copy of its user stack.
// False when it could not (the caller then records the frame-pointer stack; counted).
static __always_inline bool send_stack_copy(void *ctx, __u64 cgroup_id, __u32 tgid, __u32 instance)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct profile_stack_sample *s;
	struct pt_regs *regs;
	__u32 cpu = bpf_get_smp_processor_id(), bytes;
	__u64 flags;
	long size;

	s = bpf_map_lookup_elem(&stack_scratch, &cpu);
	regs = (struct pt_regs *)bpf_task_pt_regs(task); // the user registers, also in a syscall
	if (!s || !regs) {
		count(PROFILE_STAT_STACK_COPY_UNREADABLE);
		return false;
	}
	s->regs[0] = BPF_CORE_READ(regs, ax);
	s->regs[1] = BPF_CORE_READ(regs, dx);
	s->regs[2] = BPF_CORE_READ(regs, cx);
	s->regs[3] = BPF_CORE_READ(regs, bx);
	s->regs[4] = BPF_CORE_READ(regs, si);
	s->regs[5] = BPF_CORE_READ(regs, di);
	s->regs[6] = BPF_CORE_READ(regs, bp);
	s->regs[7] = BPF_CORE_READ(regs, sp);
	s->regs[8] = BPF_CORE_READ(regs, r8);
	s->regs[9] = BPF_CORE_READ(regs, r9);
	s->regs[10] = BPF_CORE_READ(regs, r10);
	s->regs[11] = BPF_CORE_READ(regs, r11);
	s->regs[12] = BPF_CORE_READ(regs, r12);
	s->regs[13] = BPF_CORE_READ(regs, r13);
	s->regs[14] = BPF_CORE_READ(regs, r14);
	s->regs[15] = BPF_CORE_READ(regs, r15);
	s->regs[16] = BPF_CORE_READ(regs, ip);
	bytes = copy_user_stack(s, s->regs[7]);
	if (!bytes) {
		count(PROFILE_STAT_STACK_COPY_UNREADABLE);
		return false;
	}
	s->stack_bytes = bytes;
	s->cgroup_id = cgroup_id;
	s->tgid = tgid;
	s->instance = instance;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	s->kernel_stack_bytes = bpf_get_stack(ctx, s->kernel_ips, sizeof(s->kernel_ips), 0);
	if (s->kernel_stack_bytes <= 0) // as bpf_get_stackid(): also samples taken in user mode
		count(PROFILE_STAT_KERNEL_STACK_ERROR);

	size = __builtin_offsetof(struct profile_stack_sample, stack) + (bytes & (2 * PROFILE_MAX_STACK_COPY - 1));
	if (size > sizeof(*s))
		return false; // not reached (bytes <= PROFILE_MAX_STACK_COPY); bounds it for the verifier
	// Wake user space only when the buffer is half full; it reads every 100 ms anyway.
	flags = bpf_ringbuf_query(&stack_samples, BPF_RB_AVAIL_DATA) > stack_ring_bytes / 2 ? BPF_RB_FORCE_WAKEUP
											  : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&stack_samples, s, size, flags)) {
		count(PROFILE_STAT_STACK_COPY_LOST);
		return false;
	}
	count(PROFILE_STAT_STACK_COPIES);
	return true;
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
	if (stack_copy_bytes) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		__u32 instance = proc_instance(tgid, bpf_get_current_task_btf());

		if (instance && send_stack_copy(ctx, cgroup_id, tgid, instance)) {
			count(PROFILE_STAT_RECORDED);
			return 0;
		}
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
