/* Structures shared by memory.bpf.c and its C++ wrapper: plain C, fixed-width types. */
#ifndef CGSCOPE_COLLECTOR_MEMORY_H
#define CGSCOPE_COLLECTOR_MEMORY_H

#define MEM_HIST_SLOTS 40 /* log2 ns */

/* Per cgroup, per CPU; cumulative while the collector runs. */
struct mem_cgroup_stats {
	__u64 direct_reclaim_ns;     /* global direct reclaim (the zone/node ran low) */
	__u64 direct_reclaim_count;
	__u64 memcg_reclaim_ns;      /* reclaim forced by the cgroup's own limit (memory.high/max,
				      * v1 limit_in_bytes) */
	__u64 memcg_reclaim_count;
	__u64 reclaimed_pages;       /* pages these reclaims freed */
	__u64 reclaim_hist[MEM_HIST_SLOTS]; /* duration of each stall, both kinds */
	__u64 cache_accessed_pages;  /* pages read through the page cache: read(2) and faults */
	__u64 cache_read_added_pages; /* pages added to the cache for those reads (misses,
				       * readahead included) */
	__u64 cache_other_added_pages; /* pages added otherwise (new pages of buffered writes) */
	__u64 file_faults;           /* page faults on file mappings */
	__u64 oom_kills;             /* tasks of this cgroup chosen as OOM victims */
};

/* Per task (task local storage): a reclaim in progress, and on kernels where fentry marks reads,
 * the read or fault in progress (both may sleep and migrate). */
struct mem_task_state {
	__u64 reclaim_start_ns; /* 0: not in reclaim */
	__u64 read_mapping;     /* fentry mode: address_space a read/fault is filling the cache for */
	__u32 reclaim_kind;     /* enum mem_reclaim_kind */
	__u32 pad;
};

/* Per CPU: the read or fault in progress on this CPU (tracepoint mode). */
struct mem_cpu_read {
	__u64 read_mapping; /* address_space a read/fault of read_pid is filling the cache for */
	__u64 seen_mapping; /* the last filemap_get_pages() of `pid`: a read(2) calls it once per */
	__u64 seen_last;    /*   batch with the same last index and a growing first index; */
	__u64 seen_index;   /*   only the first call counts its pages */
	__u32 pid;
	__u32 read_pid;
};

enum mem_reclaim_kind {
	MEM_RECLAIM_DIRECT = 1,
	MEM_RECLAIM_MEMCG = 2,
};

enum mem_drop_reason {
	MEM_DROP_STATS_FULL = 0, /* a new cgroup found the stats map full */
	MEM_DROP_TASK_STATE = 1, /* no task storage for a reclaim or read (memory) */
	MEM_DROP_NR = 2,
};

#endif
