/* Structures shared by profile.bpf.c and its C++ wrapper: plain C, fixed-width types. */
#ifndef CGSCOPE_COLLECTOR_PROFILE_H
#define CGSCOPE_COLLECTOR_PROFILE_H

#define PROFILE_MAX_STACK_DEPTH 127 /* PERF_MAX_STACK_DEPTH, the kernel's default limit */
#define PROFILE_COMM_LEN 16
#define PROFILE_MAX_CGROUP_LEVELS 16 /* ancestors checked by the cgroup filter */

/* --unwind dwarf: a sample's user registers and a copy of the top of its user stack go to
 * user space, which unwinds them from the binaries' CFI (.eh_frame). */
#define PROFILE_MAX_STACK_COPY 32768  /* bytes; a power of two (the verifier's bound) */
#define PROFILE_PAGE 4096
#define PROFILE_USER_REGS 17          /* x86-64 DWARF registers 0..16 (rax..r15, rip) */

/* A stack id < 0 is -errno from bpf_get_stackid() or one of these. */
#define PROFILE_STACK_NONE (-2) /* not taken: kernel thread (no user stack) or disabled */

/* One aggregation key: who ran (cgroup, process and its address space, thread name) and
 * where (the user and kernel stacks). Counted in the kernel; user space reads it once. */
struct profile_key {
	__u64 cgroup_id;       /* cgroup v2 id (bpf_get_current_cgroup_id) */
	__u32 tgid;            /* process */
	__u32 instance;        /* address space of tgid: a new one at exec or pid reuse; 0 = none */
	__s32 user_stack_id;   /* >= 0: id in the stack map; < 0: why there is none (see above) */
	__s32 kernel_stack_id;
	char comm[PROFILE_COMM_LEN];
};

struct profile_off_cpu_value {
	__u64 total_ns; /* time blocked with this stack */
	__u64 count;    /* times it blocked there */
};

/* Ring buffer record of one on-CPU sample with a stack copy. Variable length: the record
 * ends after stack_bytes bytes of stack. */
struct profile_stack_sample {
	__u64 cgroup_id;
	__u32 tgid;
	__u32 instance;
	char comm[PROFILE_COMM_LEN];
	__u64 regs[PROFILE_USER_REGS]; /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
	__s32 kernel_stack_bytes;      /* bytes of kernel_ips, or -errno */
	__u32 stack_bytes;             /* bytes of stack, copied from regs[7] (rsp) upwards */
	__u64 kernel_ips[PROFILE_MAX_STACK_DEPTH];
	__u8 stack[PROFILE_MAX_STACK_COPY + PROFILE_PAGE]; /* one page of slack for the verifier */
};

/* Per process: the address space the instance stands for (task->mm). */
struct profile_proc {
	__u64 mm;
	__u32 instance;
	__u32 pad;
};

/* Ring buffer record: a process (or a new address space of one) was seen for the first time.
 * User space reads its /proc/PID/maps right away, while it still lives. */
struct profile_proc_event {
	__u32 tgid;
	__u32 instance;
};

/* Off-CPU: where a task blocked, kept in its task storage until it runs again. */
struct profile_off_cpu_start {
	__u64 start_ns; /* 0 = not blocked (or not tracked) */
	struct profile_key key;
};

/* Everything counted or lost, per CPU. */
enum profile_stat {
	PROFILE_STAT_SAMPLES = 0,          /* on-CPU samples of a non-idle task */
	PROFILE_STAT_FILTERED,             /* samples / switches of cgroups not asked for */
	PROFILE_STAT_RECORDED,             /* samples (or off-CPU intervals) added to a count map */
	PROFILE_STAT_COUNT_MAP_FULL,       /* lost: the count map had no room for a new key */
	PROFILE_STAT_USER_STACK_COLLISION, /* user stack lost: its hash bucket held another stack */
	PROFILE_STAT_USER_STACK_FULL,      /* user stack lost: stack map full */
	PROFILE_STAT_USER_STACK_ERROR,     /* user stack not walkable (other errors, e.g. -EFAULT) */
	PROFILE_STAT_KERNEL_STACK_COLLISION,
	PROFILE_STAT_KERNEL_STACK_FULL,
	PROFILE_STAT_KERNEL_STACK_ERROR,   /* includes samples taken in user mode (no kernel stack) */
	PROFILE_STAT_PROC_EVENT_LOST,      /* lost: ring buffer full, a process's maps may go unread */
	PROFILE_STAT_OFF_CPU_BLOCKS,       /* off-CPU: switches out of a blocking task */
	PROFILE_STAT_OFF_CPU_SHORT,        /* off-CPU: blocked less than the minimum, not recorded */
	PROFILE_STAT_OFF_CPU_NO_STORAGE,   /* lost: no task storage for a blocking task */
	PROFILE_STAT_STACK_COPIES,         /* --unwind dwarf: samples sent with a stack copy */
	PROFILE_STAT_STACK_COPY_LOST,      /* ring buffer full: the sample fell back to frame pointers */
	PROFILE_STAT_STACK_COPY_UNREADABLE,/* no user registers or stack page: fell back to frame pointers */
	PROFILE_STAT_NR,
};

#endif
