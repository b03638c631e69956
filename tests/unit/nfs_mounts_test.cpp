// The NFS mount parsers: /proc/self/mountinfo (superblocks and resolved caching options) and
// /proc/self/mountstats (per-mount client counters), on hand-written fixtures in the kernel's
// format (tests/fixtures/nfs) and on small inline inputs for the edge cases and bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "collector/nfs/mounts.hpp"
#include "model/io.hpp"

using namespace cgscope;
using namespace cgscope::collector;
using cgscope::model::make_dev;

namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(CGSCOPE_FIXTURES_DIR) + "/nfs/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

::testing::AssertionResult StartsWith(const std::string& text, const std::string& prefix) {
  if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not start with '" << prefix << "'";
}

// One mountinfo line of an NFS mount with these super options.
std::string nfs_line(const std::string& super_options, const std::string& dev = "0:60") {
  return "90 28 " + dev + " / /mnt/x rw,relatime shared:50 - nfs 10.1.1.1:/x rw," + super_options + "\n";
}

model::NfsMount one_mount(const std::string& super_options) {
  auto m = parse_nfs_mountinfo(nfs_line(super_options));
  EXPECT_TRUE(m.ok()) << m.error();
  if (!m.ok() || m->size() != 1) {
    ADD_FAILURE() << "expected one mount";
    return {};
  }
  return (*m)[0];
}

// A mountstats with one NFS block whose body is `body`.
std::string stats_block(const std::string& body) {
  return "device 10.1.1.1:/x mounted on /mnt/x with fstype nfs statvers=1.1\n" + body;
}

}  // namespace

// ---- mountinfo ----

TEST(NfsMountinfoTest, FixtureKeepsOneEntryPerNfsSuperblockInFileOrder) {
  const std::string text = read_fixture("mountinfo");
  ASSERT_FALSE(text.empty()) << "fixture missing";
  auto mounts = parse_nfs_mountinfo(text);
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  // ext4, vfat, cgroup2, overlay, nfsd, rpc_pipefs skipped; the bind mount /home/alice shares
  // 0:54 with /srv/home; the two nosharecache mounts of one export are two superblocks.
  ASSERT_EQ(mounts->size(), 5u);
  EXPECT_EQ((*mounts)[0].dev, make_dev(0, 52));
  EXPECT_EQ((*mounts)[1].dev, make_dev(0, 53));
  EXPECT_EQ((*mounts)[2].dev, make_dev(0, 54));
  EXPECT_EQ((*mounts)[3].dev, make_dev(0, 55));
  EXPECT_EQ((*mounts)[4].dev, make_dev(0, 56));
  for (const auto& m : *mounts) EXPECT_TRUE(m.fstype == "nfs" || m.fstype == "nfs4") << m.fstype;
}

TEST(NfsMountinfoTest, V3MountWithKernelDefaults) {
  auto mounts = parse_nfs_mountinfo(read_fixture("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  const model::NfsMount& m = (*mounts)[0];
  EXPECT_EQ(m.mount_point, "/mnt/data");
  EXPECT_EQ(m.source, "10.0.0.5:/export/data");
  EXPECT_EQ(m.server, "10.0.0.5");
  EXPECT_EQ(m.export_path, "/export/data");
  EXPECT_EQ(m.fstype, "nfs");
  EXPECT_EQ(m.vers, "3");
  EXPECT_EQ(m.acregmin_s, 3u);
  EXPECT_EQ(m.acregmax_s, 60u);
  EXPECT_EQ(m.acdirmin_s, 30u);
  EXPECT_EQ(m.acdirmax_s, 60u);
  EXPECT_TRUE(m.attribute_cache);
  EXPECT_TRUE(m.close_to_open);
  EXPECT_EQ(m.lookupcache, "all");
  EXPECT_EQ(m.nconnect, 1u);
  EXPECT_EQ(m.rsize, 1048576u);
  EXPECT_EQ(m.wsize, 1048576u);
  // Per-mount and super options together; flags map to "".
  EXPECT_EQ(m.options.at("relatime"), "");
  EXPECT_EQ(m.options.at("rw"), "");
  EXPECT_EQ(m.options.at("hard"), "");
  EXPECT_EQ(m.options.at("nosharecache"), "");
  EXPECT_EQ(m.options.at("proto"), "tcp");
  EXPECT_EQ(m.options.at("addr"), "10.0.0.5");
  EXPECT_EQ(m.options.at("mountport"), "20048");
  EXPECT_EQ(m.options.count("ro"), 0u);
}

TEST(NfsMountinfoTest, NoacNoctoAndLookupcacheNone) {
  auto mounts = parse_nfs_mountinfo(read_fixture("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  const model::NfsMount& m = (*mounts)[1];
  EXPECT_EQ(m.mount_point, "/mnt/data-noac");
  EXPECT_EQ(m.source, (*mounts)[0].source);  // same export, its own superblock
  EXPECT_FALSE(m.attribute_cache);
  EXPECT_EQ(m.acregmin_s, 0u);
  EXPECT_EQ(m.acregmax_s, 0u);
  EXPECT_EQ(m.acdirmin_s, 0u);
  EXPECT_EQ(m.acdirmax_s, 0u);
  EXPECT_FALSE(m.close_to_open);
  EXPECT_EQ(m.lookupcache, "none");
  EXPECT_EQ(m.options.at("sync"), "");
}

TEST(NfsMountinfoTest, Nfs4FirstMountPointWinsOverItsBindMount) {
  auto mounts = parse_nfs_mountinfo(read_fixture("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  const model::NfsMount* m = find_mount_by_dev(*mounts, make_dev(0, 54));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->mount_point, "/srv/home");  // not the later read-only bind mount /home/alice
  EXPECT_EQ(m->fstype, "nfs4");
  EXPECT_EQ(m->server, "nas.example.com");
  EXPECT_EQ(m->export_path, "/home");
  EXPECT_EQ(m->vers, "4.2");
  EXPECT_EQ(m->options.count("rw"), 1u);
  EXPECT_EQ(m->options.count("ro"), 0u);
  EXPECT_EQ(m->options.at("sec"), "krb5p");
  EXPECT_EQ(m->acregmin_s, 10u);  // printed because not the default
  EXPECT_EQ(m->acregmax_s, 120u);
  EXPECT_EQ(m->acdirmin_s, 30u);  // not printed: the default
  EXPECT_EQ(m->acdirmax_s, 60u);
  EXPECT_EQ(m->lookupcache, "positive");  // the kernel prints lookupcache=pos
  EXPECT_EQ(m->nconnect, 4u);
}

TEST(NfsMountinfoTest, Ipv6ServerLosesItsBrackets) {
  auto mounts = parse_nfs_mountinfo(read_fixture("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  const model::NfsMount& m = (*mounts)[3];
  EXPECT_EQ(m.source, "[fd00:10::5]:/exports/scratch");
  EXPECT_EQ(m.server, "fd00:10::5");
  EXPECT_EQ(m.export_path, "/exports/scratch");
  EXPECT_EQ(m.vers, "4.1");
  EXPECT_EQ(m.rsize, 524288u);
  EXPECT_EQ(m.options.at("proto"), "tcp6");
  EXPECT_EQ(m.options.at("clientaddr"), "fd00:10::17");
}

TEST(NfsMountinfoTest, OctalEscapesInMountPointAndSource) {
  auto mounts = parse_nfs_mountinfo(read_fixture("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  const model::NfsMount& m = (*mounts)[4];
  EXPECT_EQ(m.mount_point, "/mnt/Project Files");
  EXPECT_EQ(m.source, "10.0.0.6:/vol/Project Files");
  EXPECT_EQ(m.export_path, "/vol/Project Files");
  EXPECT_EQ(m.acregmin_s, 5u);
  EXPECT_EQ(m.acdirmax_s, 90u);
  EXPECT_EQ(m.options.at("noatime"), "");

  // Tab, backslash; a backslash not followed by three octal digits stays as it is.
  auto odd = parse_nfs_mountinfo("90 28 0:60 / /mnt/a\\011b\\134c\\9x rw - nfs s:/e rw,vers=3\n");
  ASSERT_TRUE(odd.ok()) << odd.error();
  EXPECT_EQ((*odd)[0].mount_point, "/mnt/a\tb\\c\\9x");
}

TEST(NfsMountinfoTest, ActimeoSetsAllFourAndExplicitValuesOverrideIt) {
  auto m = one_mount("vers=3,acdirmax=90,actimeo=5");  // the order does not matter
  EXPECT_EQ(m.acregmin_s, 5u);
  EXPECT_EQ(m.acregmax_s, 5u);
  EXPECT_EQ(m.acdirmin_s, 5u);
  EXPECT_EQ(m.acdirmax_s, 90u);
  EXPECT_TRUE(m.attribute_cache);

  auto noac = one_mount("vers=3,actimeo=5,noac");
  EXPECT_FALSE(noac.attribute_cache);
  EXPECT_EQ(noac.acregmin_s + noac.acregmax_s + noac.acdirmin_s + noac.acdirmax_s, 0u);
}

TEST(NfsMountinfoTest, LookupcacheSpellingsAreNormalized) {
  EXPECT_EQ(one_mount("vers=3").lookupcache, "all");
  EXPECT_EQ(one_mount("vers=3,lookupcache=all").lookupcache, "all");
  EXPECT_EQ(one_mount("vers=3,lookupcache=pos").lookupcache, "positive");
  EXPECT_EQ(one_mount("vers=3,lookupcache=positive").lookupcache, "positive");
  EXPECT_EQ(one_mount("vers=3,lookupcache=none").lookupcache, "none");
}

TEST(NfsMountinfoTest, MissingValuesStayUnknown) {
  auto m = one_mount("hard");
  EXPECT_EQ(m.vers, "");
  EXPECT_FALSE(m.rsize.has_value());
  EXPECT_FALSE(m.wsize.has_value());
  EXPECT_EQ(one_mount("nfsvers=4.0").vers, "4.0");  // hand-written option strings
}

TEST(NfsMountinfoTest, ReadOnlyMountOfReadWriteSuperblockStaysReadOnly) {
  auto mounts = parse_nfs_mountinfo("90 28 0:60 / /mnt/ro ro,relatime - nfs4 s:/e rw,vers=4.2\n");
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  EXPECT_EQ((*mounts)[0].options.count("ro"), 1u);
  EXPECT_EQ((*mounts)[0].options.count("rw"), 0u);
}

TEST(NfsMountinfoTest, OptionalFieldsAndNoNfsAtAll) {
  auto many = parse_nfs_mountinfo(
      "90 28 0:60 / /mnt/x rw shared:5 master:2 propagate_from:1 unbindable - nfs s:/e rw,vers=3\n");
  ASSERT_TRUE(many.ok()) << many.error();
  ASSERT_EQ(many->size(), 1u);
  EXPECT_EQ((*many)[0].export_path, "/e");

  for (const char* none : {"", "\n\n", "28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"}) {
    auto m = parse_nfs_mountinfo(none);
    ASSERT_TRUE(m.ok()) << m.error();
    EXPECT_TRUE(m->empty());
  }
}

TEST(NfsMountinfoTest, MalformedLinesNameTheLine) {
  auto no_sep = parse_nfs_mountinfo(nfs_line("vers=3") + "91 28 0:61 / /mnt/y rw nfs s:/e rw\n");
  ASSERT_FALSE(no_sep.ok());
  EXPECT_TRUE(StartsWith(no_sep.error(), "mountinfo: line 2: expected '<id> <parent> <MAJ:MIN>"));
  EXPECT_TRUE(
      StartsWith(parse_nfs_mountinfo("\n91 28 0:61 / /mnt/y rw - nfs\n").error(), "mountinfo: line 2: "));
  EXPECT_TRUE(StartsWith(parse_nfs_mountinfo("91 28 0:61\n").error(), "mountinfo: line 1: "));

  EXPECT_EQ(parse_nfs_mountinfo(nfs_line("vers=3", "0-61")).error(),
            "mountinfo: line 1: expected a device 'MAJ:MIN' as field 3, got '0-61'");
  EXPECT_EQ(
      parse_nfs_mountinfo("90 28 0:60 / /mnt/x rw - nfs nocolon rw,vers=3\n").error(),
      "mountinfo: line 1: expected an NFS source 'server:/export' or '[v6addr]:/export', got 'nocolon'");
  EXPECT_TRUE(
      StartsWith(parse_nfs_mountinfo("90 28 0:60 / /x rw - nfs [::1/e rw\n").error(), "mountinfo: line 1: "));
  EXPECT_EQ(parse_nfs_mountinfo(nfs_line("vers=3", "0:60") + nfs_line("rsize=1m", "0:61")).error(),
            "mountinfo: line 2: expected a number after rsize=, got 'rsize=1m'");
  EXPECT_EQ(parse_nfs_mountinfo(nfs_line("actimeo=-1")).error(),
            "mountinfo: line 1: expected a number after actimeo=, got 'actimeo=-1'");
  EXPECT_EQ(
      parse_nfs_mountinfo(nfs_line("lookupcache=sometimes")).error(),
      "mountinfo: line 1: expected lookupcache=all, pos, positive or none, got 'lookupcache=sometimes'");
}

// ---- mountstats ----

TEST(NfsMountstatsTest, FixtureKeepsOnlyNfsBlocks) {
  const std::string text = read_fixture("mountstats");
  ASSERT_FALSE(text.empty()) << "fixture missing";
  auto stats = parse_nfs_mountstats(text);
  ASSERT_TRUE(stats.ok()) << stats.error();
  ASSERT_EQ(stats->size(), 2u);  // not ext4, sysfs, proc, rpc_pipefs, nfsd, autofs, tmpfs
  EXPECT_EQ((*stats)[0].mount_point, "/mnt/data");
  EXPECT_EQ((*stats)[1].mount_point, "/srv/home");
}

TEST(NfsMountstatsTest, V3BlockFields) {
  auto stats = parse_nfs_mountstats(read_fixture("mountstats"));
  ASSERT_TRUE(stats.ok()) << stats.error();
  const model::NfsMountStats& s = (*stats)[0];
  EXPECT_EQ(s.source, "10.0.0.5:/export/data");
  EXPECT_EQ(s.fstype, "nfs");
  EXPECT_EQ(s.age_seconds, 86412u);

  EXPECT_EQ(s.events.size(), 27u);
  EXPECT_EQ(s.events.at("inode_revalidate"), 48211u);
  EXPECT_EQ(s.events.at("dentry_revalidate"), 1290344u);
  EXPECT_EQ(s.events.at("attribute_invalidate"), 20455u);
  EXPECT_EQ(s.events.at("vfs_access"), 61204u);
  EXPECT_EQ(s.events.at("vfs_write_pages"), 20988u);
  EXPECT_EQ(s.events.at("vfs_file_release"), 15229u);
  EXPECT_EQ(s.events.at("truncation"), 1402u);
  EXPECT_EQ(s.events.at("write_extension"), 9812u);
  EXPECT_EQ(s.events.at("silly_rename"), 3u);
  EXPECT_EQ(s.events.at("pnfs_write"), 0u);

  EXPECT_EQ(s.bytes.size(), 8u);
  EXPECT_EQ(s.bytes.at("normal_read"), 9876543210u);
  EXPECT_EQ(s.bytes.at("normal_write"), 1234567890u);
  EXPECT_EQ(s.bytes.at("server_read"), 9871234567u);
  EXPECT_EQ(s.bytes.at("read_pages"), 2410133u);
  EXPECT_EQ(s.bytes.at("write_pages"), 301420u);

  EXPECT_EQ(s.transport, "tcp");
  EXPECT_EQ(s.xprt.size(), 13u);
  EXPECT_EQ(s.xprt.at("port"), 783u);
  EXPECT_EQ(s.xprt.at("connect_count"), 2u);
  EXPECT_EQ(s.xprt.at("idle_time"), 12u);
  EXPECT_EQ(s.xprt.at("sends"), 268015u);
  EXPECT_EQ(s.xprt.at("receives"), 268015u);
  EXPECT_EQ(s.xprt.at("bad_xids"), 0u);
  EXPECT_EQ(s.xprt.at("req_u"), 1741622u);
  EXPECT_EQ(s.xprt.at("max_slots"), 16u);
  EXPECT_EQ(s.xprt.at("sending_u"), 2030u);
  EXPECT_EQ(s.xprt.at("pending_u"), 918u);

  EXPECT_EQ(s.ops.size(), 22u);
  EXPECT_EQ(s.ops.at("GETATTR"),
            (model::NfsMountOpStats{48190, 48190, 0, 6457460, 5397280, 191, 24093, 25802, 0}));
  EXPECT_EQ(s.ops.at("WRITE"),
            (model::NfsMountOpStats{1204, 1206, 1, 1235912140, 192640, 6301, 19620, 25989, 0}));
  EXPECT_EQ(s.ops.at("LOOKUP").errors, 1733u);
  EXPECT_EQ(s.ops.at("READDIRPLUS").bytes_received, 11532000u);
}

TEST(NfsMountstatsTest, V4BlockSumsTheConnectionsOfNconnect) {
  auto stats = parse_nfs_mountstats(read_fixture("mountstats"));
  ASSERT_TRUE(stats.ok()) << stats.error();
  const model::NfsMountStats& s = (*stats)[1];
  EXPECT_EQ(s.source, "nas.example.com:/home");
  EXPECT_EQ(s.fstype, "nfs4");
  EXPECT_EQ(s.age_seconds, 3601u);
  EXPECT_EQ(s.events.at("inode_revalidate"), 2210u);
  EXPECT_EQ(s.bytes.at("direct_write"), 4194304u);
  EXPECT_EQ(s.transport, "tcp");
  EXPECT_EQ(s.xprt.at("sends"), 30412u + 29877u);
  EXPECT_EQ(s.xprt.at("receives"), 30411u + 29877u);
  EXPECT_EQ(s.xprt.at("connect_count"), 2u);
  EXPECT_EQ(s.xprt.at("req_u"), 61220u + 59011u);
  EXPECT_EQ(s.xprt.at("max_slots"), 64u);  // the largest, not a sum
  EXPECT_EQ(s.xprt.at("idle_time"), 3u);   // the most recently used connection
  EXPECT_EQ(s.ops.size(), 69u);
  EXPECT_EQ(s.ops.at("OPEN"), (model::NfsMountOpStats{3102, 3102, 0, 1086120, 1265616, 20, 2904, 2990, 41}));
  EXPECT_EQ(s.ops.at("READ_PLUS"), (model::NfsMountOpStats{0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(s.ops.count("impl_id"), 0u);
}

TEST(NfsMountstatsTest, FewerOrMoreCountersThanKnown) {
  auto older = parse_nfs_mountstats(
      stats_block("\tevents:\t1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25\n"
                  "\tbytes:\t1 2 3 4 5 6\n"));
  ASSERT_TRUE(older.ok()) << older.error();
  EXPECT_EQ((*older)[0].events.size(), 25u);
  EXPECT_EQ((*older)[0].events.at("jukebox_delay"), 25u);
  EXPECT_EQ((*older)[0].events.count("pnfs_read"), 0u);
  EXPECT_EQ((*older)[0].bytes.size(), 6u);

  auto newer =
      parse_nfs_mountstats(stats_block("\tevents:\t0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7 8 "
                                       "9\n\tbytes:\t0 0 0 0 0 0 0 0 42\n"));
  ASSERT_TRUE(newer.ok()) << newer.error();
  EXPECT_EQ((*newer)[0].events.at("pnfs_write"), 7u);
  EXPECT_EQ((*newer)[0].events.at("event_27"), 8u);
  EXPECT_EQ((*newer)[0].events.at("event_28"), 9u);
  EXPECT_EQ((*newer)[0].bytes.at("bytes_8"), 42u);
}

TEST(NfsMountstatsTest, OpLinesWithoutErrorsOfOlderKernels) {
  auto s =
      parse_nfs_mountstats(stats_block("\tper-op statistics\n\t     GETATTR: 10 11 1 1300 1120 2 30 33\n"
                                       "\t        READ: 1 1 0 140 4200 0 5 5 0 77\n"));
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ((*s)[0].ops.at("GETATTR"),
            (model::NfsMountOpStats{10, 11, 1, 1300, 1120, 2, 30, 33, std::nullopt}));
  EXPECT_EQ((*s)[0].ops.at("READ").errors, 0u);  // a tenth field of a later kernel is ignored
}

TEST(NfsMountstatsTest, TransportsNameTheirFields) {
  auto udp = parse_nfs_mountstats(stats_block("\txprt:\tudp 812 1 4410 4409 1 9020 0 4 30 2\n"));
  ASSERT_TRUE(udp.ok()) << udp.error();
  EXPECT_EQ((*udp)[0].transport, "udp");
  EXPECT_EQ((*udp)[0].xprt.size(), 10u);
  EXPECT_EQ((*udp)[0].xprt.at("sends"), 4410u);
  EXPECT_EQ((*udp)[0].xprt.at("receives"), 4409u);
  EXPECT_EQ((*udp)[0].xprt.at("bad_xids"), 1u);
  EXPECT_EQ((*udp)[0].xprt.at("pending_u"), 2u);
  EXPECT_EQ((*udp)[0].xprt.count("connect_count"), 0u);

  auto old_tcp =
      parse_nfs_mountstats(stats_block("\txprt:\ttcp 700 1 1 0 0 50 50 0 80 0\n"));  // before max_slots
  ASSERT_TRUE(old_tcp.ok()) << old_tcp.error();
  EXPECT_EQ((*old_tcp)[0].xprt.size(), 10u);
  EXPECT_EQ((*old_tcp)[0].xprt.at("backlog_u"), 0u);

  auto rdma = parse_nfs_mountstats(stats_block("\txprt:\trdma 0 0 1 0 4 900 899 0 1200 0 11 12 13 \n"));
  ASSERT_TRUE(rdma.ok()) << rdma.error();
  EXPECT_EQ((*rdma)[0].transport, "rdma");
  EXPECT_EQ((*rdma)[0].xprt.at("sends"), 900u);
  EXPECT_EQ((*rdma)[0].xprt.at("backlog_u"), 0u);
  EXPECT_EQ((*rdma)[0].xprt.at("xprt_10"), 11u);  // RDMA's own counters, by position
  EXPECT_EQ((*rdma)[0].xprt.at("xprt_12"), 13u);
  EXPECT_EQ((*rdma)[0].xprt.count("max_slots"), 0u);
}

TEST(NfsMountstatsTest, UnknownLinesAndLinesOutsideNfsBlocksAreIgnored) {
  auto s = parse_nfs_mountstats(
      "\tage:\tnot-a-number outside any block\n"
      "device /dev/sda1 mounted on /boot with fstype ext4\n"
      "\tevents:\tbogus lines of another filesystem\n" +
      stats_block("\tfsc:\tsomething new\n\tfuture_line: a b c\n\tage:\t5\n\tper-op statistics\n"
                  "\tlowercase: x y\n\t        NULL: 0 0 0 0 0 0 0 0 0\n"));
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].age_seconds, 5u);
  EXPECT_EQ((*s)[0].ops.size(), 1u);
  EXPECT_TRUE(parse_nfs_mountstats("").ok());
}

TEST(NfsMountstatsTest, EscapedMountPoint) {
  auto s = parse_nfs_mountstats(
      "device 10.0.0.6:/vol/Project\\040Files mounted on /mnt/Project\\040Files with fstype nfs "
      "statvers=1.1\n");
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ((*s)[0].mount_point, "/mnt/Project Files");
  EXPECT_EQ((*s)[0].source, "10.0.0.6:/vol/Project Files");
}

TEST(NfsMountstatsTest, MalformedLinesNameTheLine) {
  EXPECT_EQ(parse_nfs_mountstats(stats_block("\tage:\t1\n\tevents:\t1 2 3 4x 5\n")).error(),
            "mountstats: line 3: expected a number as field 4 of events:, got '4x'");
  EXPECT_EQ(parse_nfs_mountstats(stats_block("\tbytes:\t1 -2\n")).error(),
            "mountstats: line 2: expected a number as field 2 of bytes:, got '-2'");
  EXPECT_EQ(parse_nfs_mountstats(stats_block("\txprt:\ttcp 1 1 1 0 0 x\n")).error(),
            "mountstats: line 2: expected a number as field 6 of xprt:, got 'x'");
  EXPECT_TRUE(StartsWith(parse_nfs_mountstats(stats_block("\txprt:\n")).error(),
                         "mountstats: line 2: expected 'xprt:"));
  EXPECT_TRUE(StartsWith(parse_nfs_mountstats(stats_block("\tage:\tsoon\n")).error(),
                         "mountstats: line 2: expected 'age: <seconds>'"));
  EXPECT_TRUE(StartsWith(parse_nfs_mountstats(stats_block("\tper-op statistics\n\tGETATTR: 1 2 3\n")).error(),
                         "mountstats: line 3: expected '<OP>: <ops> <trans>"));
  EXPECT_EQ(
      parse_nfs_mountstats(stats_block("\tper-op statistics\n\tGETATTR: 1 1 0 9 9 0 0 ten 0\n")).error(),
      "mountstats: line 3: expected a number as field 8 of GETATTR:, got 'ten'");
  EXPECT_TRUE(
      StartsWith(parse_nfs_mountstats("device 10.1.1.1:/x mounted at /mnt/x with fstype nfs\n").error(),
                 "mountstats: line 1: expected 'device <source> mounted on <mount point>"));
  EXPECT_TRUE(StartsWith(parse_nfs_mountstats("\n\ndevice /dev/sda1 mounted on /\n").error(),
                         "mountstats: line 3: "));
}

// ---- summary ----

TEST(NfsMountOptionsTest, SummaryOfDefaultsAndOfNoCaching) {
  auto mounts = parse_nfs_mountinfo(read_fixture("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  EXPECT_EQ(nfs_mount_options_summary((*mounts)[0]),
            "vers=3 ac acregmin=3 acregmax=60 acdirmin=30 acdirmax=60 lookupcache=all cto nconnect=1 "
            "rsize=1048576 wsize=1048576");
  EXPECT_EQ(nfs_mount_options_summary((*mounts)[1]),
            "vers=3 noac lookupcache=none nocto nconnect=1 rsize=1048576 wsize=1048576");
  EXPECT_EQ(
      nfs_mount_options_summary((*mounts)[2]),
      "vers=4.2 ac acregmin=10 acregmax=120 acdirmin=30 acdirmax=60 lookupcache=positive cto nconnect=4 "
      "rsize=1048576 wsize=1048576");
  EXPECT_EQ(nfs_mount_options_summary(one_mount("hard")),
            "ac acregmin=3 acregmax=60 acdirmin=30 acdirmax=60 lookupcache=all cto nconnect=1");
}

TEST(NfsMountOptionsTest, FindMountByDev) {
  auto mounts = parse_nfs_mountinfo(read_fixture("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.error();
  ASSERT_NE(find_mount_by_dev(*mounts, make_dev(0, 55)), nullptr);
  EXPECT_EQ(find_mount_by_dev(*mounts, make_dev(0, 55))->mount_point, "/mnt/v6");
  EXPECT_EQ(find_mount_by_dev(*mounts, make_dev(259, 2)), nullptr);  // the ext4 root
  EXPECT_EQ(find_mount_by_dev({}, make_dev(0, 52)), nullptr);
}

// auto takes cached negative dentries from nfs_lookup_revalidate_exit only where that tracepoint
// was verified to fire for cache hits (6.1, by the vm suite), not on 6.12 (verified not to).
TEST(NfsNegativeProbeTest, RevalidateExitTracepointOnlyOnThe61Series) {
  using cgscope::collector::nfs_revalidate_exit_covers_cache_hits;
  EXPECT_TRUE(nfs_revalidate_exit_covers_cache_hits("6.1.0-57-amd64"));
  EXPECT_TRUE(nfs_revalidate_exit_covers_cache_hits("6.1.158"));
  EXPECT_FALSE(nfs_revalidate_exit_covers_cache_hits("6.12.118+deb12-amd64"));
  EXPECT_FALSE(nfs_revalidate_exit_covers_cache_hits("6.18.0"));
  EXPECT_FALSE(nfs_revalidate_exit_covers_cache_hits("7.0-rc1"));
  EXPECT_FALSE(nfs_revalidate_exit_covers_cache_hits("6.0.12"));
  EXPECT_FALSE(nfs_revalidate_exit_covers_cache_hits("5.15.0-91-generic"));
  EXPECT_FALSE(nfs_revalidate_exit_covers_cache_hits(""));
  EXPECT_FALSE(nfs_revalidate_exit_covers_cache_hits("garbage"));
}
