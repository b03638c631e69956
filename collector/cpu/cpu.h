/* Structures shared by cpu.bpf.c and its C++ wrapper: plain C, fixed-width types. */
#ifndef CGSCOPE_COLLECTOR_CPU_H
#define CGSCOPE_COLLECTOR_CPU_H

#define CPU_HIST_SLOTS 40 /* log2 ns: the last slot holds everything >= 2^39 ns (~9 min) */

/* Run-delay blame: holders named per victim slot and CPU. The first CPU_BLAME_TOP_K distinct
 * holders seen on a CPU keep their entry until the slot is recycled (cumulative counters cannot
 * evict); waits behind any other holder go to the slot's overflow. */
#define CPU_BLAME_TOP_K 8

/* sched_info mode: the holder of each task's current wait, in an array indexed by pid modulo
 * this (a power of two), tagged with the pid: written where a wait begins (wakeup, preemption),
 * read where it ends (switch-in), on any CPU. Only tasks between the two need an entry, so two
 * of them rarely share one; the loser's wait is charged to 0 (unknown). */
#define CPU_WAIT_HOLDER_SLOTS (1 << 16) /* 1 MB */

struct cpu_wait_holder {
	__u32 pid;
	__u32 pad;
	__u64 cgroup_id;
};

/* Waits of a victim cgroup behind one holder cgroup (the cgroup that held the CPU when the wait
 * began; 0: the CPU was idle, or the holder is unknown). */
struct cpu_blame_entry {
	__u64 cgroup_id;
	__u64 wait_ns;
	__u64 waits; /* 0: entry unused (cgroup_id 0 is a real holder: idle) */
};

/* Per cgroup, per CPU (a PERCPU_ARRAY element, the cgroup's slot); cumulative while the
 * collector runs. */
struct cpu_cgroup_stats {
	__u64 on_cpu_ns;
	__u64 nr_voluntary;   /* switched out to block */
	__u64 nr_involuntary; /* switched out while still runnable (preempted, yielded) */
	__u64 nr_migrations;  /* switched in on another CPU than last time */
	__u64 wakeup_delay_ns_sum;
	__u64 preempt_delay_ns_sum;
	__u64 iowait_ns;      /* off CPU blocked in I/O wait (in_iowait), charged when it ends */
	__u64 iowait_count;
	__u64 wakeup_hist[CPU_HIST_SLOTS];  /* wakeup -> on CPU */
	__u64 preempt_hist[CPU_HIST_SLOTS]; /* preempted -> on CPU again */
	/* Every wait charged above is also charged here, same ns: to its holder's entry, or to the
	 * overflow when CPU_BLAME_TOP_K other holders have entries on this CPU already. */
	struct cpu_blame_entry blame[CPU_BLAME_TOP_K];
	__u64 blame_overflow_ns;
	__u64 blame_overflow_waits;
};

/* sched_info mode, per CPU (runqueue): the runqueue clock after the last wakeup that asked the
 * next schedule() to skip its clock update, and the real time (CLOCK_MONOTONIC) of that
 * wakeup. (A clock offset measured now and then instead of a real time per such wakeup was
 * tried: where sched_clock is paravirtual, as on KVM guests, its offset from CLOCK_MONOTONIC
 * wanders by hundreds of ns between readings, and run-delay sums came out 4-12% short.) */
struct cpu_rq_stamp {
	__u64 clock; /* 0: no stale clock to correct */
	__u64 real_ns;
};

/* Per CPU: who runs now, and what is still to be charged to its cgroup. User space adds this
 * to the map's totals so that a task running through a whole interval is not missed. */
struct cpu_running {
	__u64 cgroup_id;        /* cgroup of the running task, 0 when idle; also read by wakeups
				 * on other CPUs: the holder of a wait queued here */
	__u64 since_ns;         /* clock modes: bpf_ktime_get_ns() at switch-in */
	__u64 start_runtime_ns; /* sched_info mode: the task's se.sum_exec_runtime at switch-in */
	__u64 pending_delay_ns; /* sched_info mode: the wait that ended at switch-in, charged at */
	__u64 pending_iowait_ns; /* sched_info mode: the I/O wait that ended before it (0: none) */
	__u64 pending_holder_id; /* sched_info mode: the cgroup that held the CPU when it began */
	__u32 pid;              /* running task (thread id), 0 when idle */
	__u32 slot;             /* stats slot of cgroup_id (valid when pid != 0 and slot_valid) */
	__u8 pending_kind;      /*   switch-out (one map lookup per switch instead of two) */
	__u8 pending_migrated;  /*   1 if this run is on another CPU than the last one */
	__u8 slot_valid;
	__u8 pad[5];            /* 64 bytes: one cache line */
};

/* Per task: when it became runnable and how, and where it last ran. */
enum cpu_wait_kind {
	CPU_WAIT_NONE = 0,
	CPU_WAIT_WAKEUP = 1,
	CPU_WAIT_PREEMPT = 2,
};
struct cpu_task_state {
	__u64 runnable_since_ns; /* clock modes: when it became runnable */
	__u64 run_delay_seen_ns; /* sched_info mode: sched_info.run_delay after the last switch-in */
	__u64 nivcsw_seen;       /* sched_info mode: nivcsw at the last switch-in */
	__u64 cgroup_id;         /* cgroup the slot below belongs to (cache) */
	__u64 iowait_since_ns;   /* when it blocked in I/O wait, 0 if it did not (sched_info mode:
				  * rq->clock, else bpf_ktime_get_ns()) */
	__u64 stale_queued_ns;   /* sched_info mode: preempted by a switch whose runqueue clock was
				  * this far behind; its next wait reads that much too long */
	__u64 holder_id;         /* clock modes: cgroup that held the CPU when the current wait
				  * began: the one that preempted it, or ran on its CPU at its
				  * wakeup (0: idle) */
	__u32 slot;
	__u32 wait_kind;         /* clock modes: enum cpu_wait_kind */
	__u32 last_cpu_plus1;    /* 0 = never seen on a CPU */
	__u32 pad;
};

/* Everything that can be lost, counted per CPU and exported. */
enum cpu_drop_reason {
	CPU_DROP_CGROUP_MAP_FULL = 0, /* a new cgroup found the stats map full */
	CPU_DROP_TASK_STATE = 1,      /* no per-task state could be created (memory / map full) */
	CPU_DROP_UNTRACKED_SLICE = 2, /* a task left the CPU without a recorded switch-in (sched_info) */
	CPU_DROP_NR = 3,
};

#endif
