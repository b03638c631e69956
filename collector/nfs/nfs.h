/* Shared between nfs.bpf.c and user space (nfs.cpp): map keys and values of the NFS collector. */
#ifndef CGSCOPE_COLLECTOR_NFS_H
#define CGSCOPE_COLLECTOR_NFS_H

#define NFS_HIST_SLOTS 32 /* log2 ns: up to ~4 s in the last slot */
#define NFS_RPC_HIST_SLOTS 24 /* log2 us: up to ~8 s */
#define NFS_FILE_CGROUPS 4 /* cgroups remembered per file; more are counted in overflow */
#define NFS_PROC_NAME_LEN 16

/* Operations that make a task wait (or RPCs charged to the cgroup that caused them). */
enum nfs_op {
	NFS_OP_REVALIDATE = 0,  /* nfs_revalidate_inode: attribute cache revalidation (GETATTR) */
	NFS_OP_GETATTR,         /* nfs_getattr: stat() and friends */
	NFS_OP_ACCESS,          /* nfs_access: permission check (ACCESS RPC when not cached) */
	NFS_OP_LOOKUP_REVALIDATE, /* dentry revalidation that went to the server */
	NFS_OP_LOOKUP,          /* nfs_lookup: name not in the dentry cache (LOOKUP RPC) */
	NFS_OP_OPEN,            /* nfs_atomic_open (NFSv4 OPEN) */
	NFS_OP_INVALIDATE,      /* nfs_invalidate_mapping: the data cache was dropped */
	NFS_OP_FSYNC,           /* fsync(2)/fdatasync(2) */
	NFS_OP_FLUSH,           /* nfs_wb_all: flush of dirty data, mostly on close (close-to-open) */
	NFS_OP_COMMIT,          /* COMMIT RPC (initiate -> done) */
	NFS_OP_READ,            /* READ RPC (initiate -> done) */
	NFS_OP_WRITE,           /* WRITE RPC (initiate -> done) */
	NFS_OP_SETATTR,
	NFS_OP_CREATE,          /* create, mkdir, mknod, symlink, link */
	NFS_OP_REMOVE,          /* unlink, rmdir */
	NFS_OP_RENAME,
	NFS_OP_NR,
};

enum nfs_err {
	NFS_ERR_ENOENT = 0,
	NFS_ERR_ESTALE,
	NFS_ERR_EIO,
	NFS_ERR_EACCES,
	NFS_ERR_EBUSY,
	NFS_ERR_OTHER,
	NFS_ERR_NR,
};

struct nfs_op_stats {
	__u64 count;
	__u64 time_ns;
	__u64 errors[NFS_ERR_NR];
	__u64 hist[NFS_HIST_SLOTS];
};

/* One NFS superblock. The kernel reuses the dev of an unmounted superblock for the next mount,
 * so a remount gets the same dev: the instance tells them apart. It is the low 32 bits of the
 * kernfs id of the superblock's backing_dev_info (sb->s_bdi->dev->kobj.sd->id), i.e. the inode
 * number user space sees for /sys/class/bdi/MAJ:MIN, which is not reused while the host runs. */
struct nfs_sb_id {
	__u32 dev; /* i_sb->s_dev */
	__u32 instance;
};

/* Per cgroup and NFS superblock. */
struct nfs_cg_key {
	__u64 cgroup_id;
	struct nfs_sb_id sb;
};

struct nfs_cg_stats {
	struct nfs_op_stats ops[NFS_OP_NR];
	__u64 read_bytes;        /* READ RPC replies */
	__u64 write_bytes;       /* WRITE RPC arguments */
	__u64 dirtied_pages;     /* page cache pages this cgroup dirtied */
	__u64 invalidated_pages; /* pages in the mapping when its data cache was dropped */
	__u64 lookup_negative;   /* LOOKUPs that found nothing (a negative dentry is cached) */
	__u64 negative_trusted;  /* cached negative dentries believed (ENOENT with no RPC) */
	__u64 negative_rejected; /* cached negative dentries that were looked up again */
	__u64 negative_stale;    /* trusted for a name another cgroup had created */
	__u64 silly_renames;     /* open files unlinked: renamed to .nfsXXXX */
};

/* Per NFS procedure, charged to the cgroup that started the RPC. */
struct nfs_rpc_key {
	__u64 cgroup_id;
	__u64 proc; /* address of the kernel's rpc_procinfo: see nfs_rpc_proc */
};

struct nfs_rpc_proc {
	__u32 prog; /* 100003 nfs, 100005 mount, ... */
	__u32 vers;
	char name[NFS_PROC_NAME_LEN];
};

struct nfs_rpc_stats {
	__u64 count;
	__u64 rtt_us;
	__u64 execute_us;
	__u64 retransmits;
	__u64 timeouts;
	__u64 rtt_hist[NFS_RPC_HIST_SLOTS];
	__u64 execute_hist[NFS_RPC_HIST_SLOTS];
};

/* Per NFS file, across the clients of one export: who wrote it and who read or revalidated it.
 * The export id is a hash of the server's fsid of the superblock (the same on every client of
 * the export, whatever server address each one mounted). */
struct nfs_file_key {
	__u32 export_id;
	__u32 pad;
	__u64 fileid;
};

struct nfs_file_cgroup {
	__u64 cgroup_id;     /* 0: free */
	struct nfs_sb_id sb; /* the superblock this cgroup used it through (the last one) */
	__u64 written_bytes; /* WRITE RPCs of pages this cgroup dirtied */
	__u64 dirtied_pages;
	__u64 reads;         /* READ RPCs */
	__u64 revalidations; /* revalidate, getattr, access, open */
	__u64 invalidations; /* data cache dropped while this cgroup used it */
};

struct nfs_file {
	struct nfs_file_cgroup cg[NFS_FILE_CGROUPS];
	__u64 overflow; /* events of further cgroups, not attributed */
};

/* A name in a directory, across clients of one export (export id as above; fileids are the
 * server's). */
struct nfs_name_key {
	__u64 dir_fileid;
	__u32 export_id;
	__u32 name_hash; /* FNV-1a of the name (up to NFS_NAME_MAX bytes) */
};

struct nfs_creation {
	__u64 cgroup_id; /* the last cgroup that created this name */
	__u64 count;
	__u64 last_ns;
};

/* A cached negative dentry trusted by `victim`, on superblock `victim_sb`, for a name another
 * cgroup created. */
struct nfs_stale_key {
	struct nfs_name_key name;
	__u64 victim_cgroup_id;
	struct nfs_sb_id victim_sb;
};

struct nfs_stale {
	__u64 creator_cgroup_id;
	__u64 count;
	__u64 last_ns;
};

#define NFS_NAME_MAX 64

enum nfs_drop_reason {
	NFS_DROP_STATS_FULL = 0,  /* a new (cgroup, mount) found the stats map full */
	NFS_DROP_START_FULL,      /* an operation's start could not be remembered */
	NFS_DROP_INFLIGHT_FULL,   /* an RPC could not be remembered (read/write/commit/owner) */
	NFS_DROP_FILES_FULL,      /* a new file found the file map full */
	NFS_DROP_NAMES_FULL,      /* a creation or stale name could not be remembered */
	NFS_DROP_RPC_FULL,        /* a new (cgroup, procedure) found the RPC map full */
	NFS_DROP_NR,
};

#endif
