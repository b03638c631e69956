/* Structures shared by io.bpf.c and its C++ wrapper: plain C, fixed-width types. */
#ifndef CGSCOPE_COLLECTOR_IO_H
#define CGSCOPE_COLLECTOR_IO_H

#define IO_HIST_SLOTS 40 /* log2 ns, like the CPU collector's */

/* Operation of a request (REQ_OP_* folded to what users ask about). */
enum io_op {
	IO_OP_READ = 0,
	IO_OP_WRITE = 1,
	IO_OP_DISCARD = 2, /* discard, secure erase, write zeroes */
	IO_OP_FLUSH = 3,   /* flush requests, and the preflush of a write */
	IO_OP_OTHER = 4,
	IO_OP_NR = 5,
};

/* How the cgroup of a request was decided. */
enum io_owner {
	IO_OWNER_TASK = 0,      /* submitted by a task of the cgroup (its own context) */
	IO_OWNER_DIRTIER = 1,   /* writeback by a kernel thread, charged to the cgroup that last
				 * dirtied the inode (cgscope's own inode -> cgroup map) */
	IO_OWNER_BLKCG = 2,     /* kernel thread; the bio's blkcg (cgroup v2 writeback) named it */
	IO_OWNER_KERNEL = 3,    /* kernel thread, owner unknown: the "writeback" bucket, cgroup 0 */
	IO_OWNER_NR = 4,
};

struct io_key {
	__u64 cgroup_id; /* 0 for the unattributed kernel bucket */
	__u32 dev;       /* disk, MKDEV-style major << 20 | minor (kernel dev_t) */
	__u8 op;         /* enum io_op */
	__u8 owner;      /* enum io_owner */
	__u16 pad;
};

/* Per (cgroup, device, op, owner) row, per CPU (a PERCPU_ARRAY element, the row's slot);
 * cumulative while the collector runs. */
struct io_stats {
	__u64 requests;
	__u64 bytes;
	__u64 errors;          /* completed with a non-zero blk_status_t */
	__u64 latency_ns_sum;  /* issue -> complete */
	__u64 queue_ns_sum;    /* submit (block_io_start) -> issue */
	__u64 queued;          /* requests that had a submit time (queue_hist is of these) */
	__u64 latency_hist[IO_HIST_SLOTS];
	__u64 queue_hist[IO_HIST_SLOTS];
};

/* A request in flight, in a direct-mapped table indexed by its tag (see inflight_index()):
 * entries are reused in place, never deleted. */
#define IO_INFLIGHT_BITS 16
#define IO_INFLIGHT_SIZE (1u << IO_INFLIGHT_BITS)
struct io_inflight {
	__u64 rq;        /* the request's address; 0: free (completed) */
	__u64 submit_ns; /* 0: not seen at submission (issued before load, or not accounted) */
	__u64 issue_ns;  /* 0: not issued (yet) */
	__u32 slot;      /* stats row of the request */
	__u32 slot_valid;
};

/* Per CPU: the row the last request submitted on this CPU went to (a cache of row_slot). */
struct io_last_row {
	struct io_key key;
	__u64 generation; /* slot_generation when cached */
	__u32 slot;
	__u32 pad;
};

/* Per cgroup, per CPU: dirty-page throttling (balance_dirty_pages pauses). */
struct io_cgroup_stats {
	__u64 dirty_throttle_ns; /* pause the kernel imposed, jiffies converted with CONFIG_HZ */
	__u64 dirty_throttle_count;
};

/* Inode -> the cgroup that last dirtied its pages, for writeback by kernel threads. */
struct io_inode_key {
	__u64 ino;
	__u32 dev; /* the inode's super block s_dev */
	__u32 pad;
};

enum io_drop_reason {
	IO_DROP_UNTRACKED_DONE = 0,  /* completion of a request not remembered: issued before cgscope
				      * attached, or its entry taken by a request of a queue whose
				      * block hashed to the same place */
	IO_DROP_STATS_FULL = 1,      /* a new (cgroup, device, op) found no free stats slot */
	IO_DROP_NR = 2,
	/* The inode -> dirtier map is an LRU: an evicted inode's writeback lands in the kernel
	 * bucket (IO_OWNER_KERNEL), visible there rather than counted here. */
};

#endif
