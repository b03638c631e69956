// The io.* / blkio.* / memory.* parsers, and Cgroupfs::read_io() / read_memory() on fake
// cgroupfs trees (pure v2, hybrid, pure v1) built in a temp directory.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "collector/cgroupfs/cgroupfs.hpp"
#include "collector/cgroupfs/parse.hpp"

using namespace cgscope;
using namespace cgscope::collector;
using cgscope::model::make_dev;
namespace fs = std::filesystem;

namespace {

// The parsers take the name of the file they read for their messages; these tests use the
// names of the non-recursive v1 files, the v2 io.weight and the blkio.throttle family.
Status rw_v1(std::string_view content, bool bytes, std::vector<model::IoStatDevice>& devices) {
  return parse_blkio_rw_v1(bytes ? "blkio.throttle.io_service_bytes" : "blkio.throttle.io_serviced", content, bytes,
                           devices);
}
Result<std::uint64_t> weight(std::string_view content) { return parse_io_weight("io.weight", content); }
Status throttle_v1(std::string_view content, BlkioLimit which, std::vector<model::IoDeviceLimit>& limits) {
  return parse_blkio_throttle_v1("blkio.throttle", content, which, limits);
}


::testing::AssertionResult StartsWith(const std::string& text, const std::string& prefix) {
  if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not start with '" << prefix << "'";
}
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// The first bytes of an ELF file: binary junk with a NUL inside.
const std::string kBinaryJunk(
    "\x7f"
    "ELF\x02\x01\x01\x00\x00\xff\xfe",
    11);

}  // namespace

// ---- parsers ----

TEST(IoMemoryParseTest, DevEncodesMajorMinorLikeTheKernel) {
  EXPECT_EQ(*parse_dev("8:16"), (8u << 20) | 16u);
  EXPECT_EQ(*parse_dev("259:0"), make_dev(259, 0));
  EXPECT_EQ(*parse_dev("4095:1048575"), make_dev(4095, 1048575));  // the largest dev_t
  for (const char* bad :
       {"", "8", "8:", ":16", "sda", "8:16x", "-8:0", "8:-1", "4096:0", "8:1048576", "99999999999:0"}) {
    auto d = parse_dev(bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_TRUE(Contains(d.error(), "MAJ:MIN"));
  }
}

TEST(IoMemoryParseTest, IoStatV2ReadsEveryDeviceAndIgnoresExtraKeys) {
  auto st = parse_io_stat_v2(
      "8:16 rbytes=1048576 wbytes=4096 rios=256 wios=1 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=1234 "
      "cost.wait=0 cost.indebt=0 cost.indelay=0\n"
      "259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=512 dios=1\n"
      "8:0 rbytes=18446744073709551615 wbytes=0 rios=0 wios=0 dbytes=0 dios=0");  // u64 max, no newline
  ASSERT_TRUE(st.ok()) << st.error();
  ASSERT_EQ(st->size(), 3u);
  EXPECT_EQ((*st)[0], (model::IoStatDevice{make_dev(8, 16), 1048576, 4096, 256, 1, 0, 0}));
  EXPECT_EQ((*st)[1], (model::IoStatDevice{make_dev(259, 0), 10, 20, 1, 2, 512, 1}));
  EXPECT_EQ((*st)[2].rbytes, 18446744073709551615ull);
}

TEST(IoMemoryParseTest, IoStatV2EmptyMeansNoDevices) {
  for (const char* empty : {"", "\n", "  \n\n"}) {
    auto st = parse_io_stat_v2(empty);
    ASSERT_TRUE(st.ok()) << st.error();
    EXPECT_TRUE(st->empty());
  }
}

TEST(IoMemoryParseTest, IoStatV2MalformedNamesFileAndLine) {
  auto no_eq = parse_io_stat_v2("8:0 rbytes=1\n8:0 rbytes 5\n");
  ASSERT_FALSE(no_eq.ok());
  EXPECT_EQ(no_eq.error(), "io.stat: line 2: expected key=value, got '8:0 rbytes 5'");
  auto no_dev = parse_io_stat_v2("\n\nsda rbytes=1\n");  // blank lines still count
  ASSERT_FALSE(no_dev.ok());
  EXPECT_TRUE(StartsWith(no_dev.error(), "io.stat: line 3: expected 'MAJ:MIN key=value ...'"));
  auto overflow = parse_io_stat_v2("8:0 rbytes=18446744073709551616\n");
  ASSERT_FALSE(overflow.ok());
  EXPECT_TRUE(StartsWith(overflow.error(), "io.stat: line 1: expected a number after rbytes="));
  EXPECT_TRUE(StartsWith(parse_io_stat_v2("8:0 wios=-1\n").error(), "io.stat: line 1: "));
  EXPECT_TRUE(StartsWith(parse_io_stat_v2("8:0 rbytes=\n").error(), "io.stat: line 1: "));
  EXPECT_TRUE(StartsWith(parse_io_stat_v2("8:0 rios=1.5\n").error(), "io.stat: line 1: "));
  EXPECT_TRUE(
      StartsWith(parse_io_stat_v2("8:0 rbytes=1\n" + kBinaryJunk + "\n").error(), "io.stat: line 2: "));
}

TEST(IoMemoryParseTest, BlkioV1MergesBytesAndServicedIntoOneDeviceList) {
  std::vector<model::IoStatDevice> devices;
  ASSERT_TRUE(rw_v1("8:16 Read 1048576\n8:16 Write 8192\n8:16 Sync 8192\n8:16 Async 1048576\n"
                                "8:16 Discard 4096\n8:16 Total 1060864\n"
                                "8:0 Read 4096\n8:0 Write 0\n8:0 Sync 0\n8:0 Async 4096\n8:0 Discard 0\n"
                                "8:0 Total 4096\nTotal 1064960\n",
                                true, devices)
                  .ok());
  auto s = rw_v1(
      "8:16 Read 256\n8:16 Write 2\n8:16 Sync 2\n8:16 Async 256\n8:16 Discard 1\n"
      "8:16 Total 259\n8:0 Read 1\n8:0 Total 1\n7:3 Write 9\nTotal 269\n",
      false, devices);
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_EQ(devices.size(), 3u);
  // Sync/Async/Total are sums of Read/Write/Discard and must not overwrite them.
  EXPECT_EQ(devices[0], (model::IoStatDevice{make_dev(8, 16), 1048576, 8192, 256, 2, 4096, 1}));
  EXPECT_EQ(devices[1], (model::IoStatDevice{make_dev(8, 0), 4096, 0, 1, 0, 0, 0}));
  EXPECT_EQ(devices[2], (model::IoStatDevice{make_dev(7, 3), 0, 0, 0, 9, 0, 0}));
}

TEST(IoMemoryParseTest, BlkioV1WithoutIoIsOnlyATotalLine) {
  std::vector<model::IoStatDevice> devices;
  ASSERT_TRUE(rw_v1("Total 0\n", true, devices).ok());
  ASSERT_TRUE(rw_v1("", false, devices).ok());
  EXPECT_TRUE(devices.empty());
}

TEST(IoMemoryParseTest, BlkioV1MalformedNamesFileAndLine) {
  std::vector<model::IoStatDevice> d;
  auto missing = rw_v1("8:16 Read 1\n8:16 Write\n", true, d);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(),
            "blkio.throttle.io_service_bytes: line 2: expected 'MAJ:MIN <Op> <count>', got '8:16 Write'");
  auto serviced = rw_v1("8:16 Read 18446744073709551616\n", false, d);
  ASSERT_FALSE(serviced.ok());
  EXPECT_TRUE(StartsWith(serviced.error(), "blkio.throttle.io_serviced: line 1: "));
  EXPECT_TRUE(StartsWith(rw_v1("8:16 Read -5\n", true, d).error(),
                         "blkio.throttle.io_service_bytes: line 1: "));
  auto bad_dev = rw_v1("sdb Read 5\n", true, d);
  ASSERT_FALSE(bad_dev.ok());
  EXPECT_TRUE(StartsWith(bad_dev.error(), "blkio.throttle.io_service_bytes: line 1: "));
  EXPECT_TRUE(Contains(bad_dev.error(), "MAJ:MIN"));
  EXPECT_TRUE(StartsWith(rw_v1(kBinaryJunk, true, d).error(),
                         "blkio.throttle.io_service_bytes: line 1: "));
}

TEST(IoMemoryParseTest, IoMaxReadsLimitsWithMaxAsUnlimited) {
  auto m = parse_io_max(
      "8:16 rbps=2097152 wbps=max riops=max wiops=120\n8:0 rbps=max wbps=1048576 riops=max wiops=max\n");
  ASSERT_TRUE(m.ok()) << m.error();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0], (model::IoDeviceLimit{make_dev(8, 16), 2097152, std::nullopt, std::nullopt, 120}));
  EXPECT_EQ((*m)[1],
            (model::IoDeviceLimit{make_dev(8, 0), std::nullopt, 1048576, std::nullopt, std::nullopt}));
  auto empty = parse_io_max("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(IoMemoryParseTest, IoMaxMalformedNamesFileAndLine) {
  EXPECT_EQ(parse_io_max("8:16 rbps\n").error(), "io.max: line 1: expected key=value, got '8:16 rbps'");
  EXPECT_TRUE(StartsWith(parse_io_max("8:0 rbps=max\n8:16 rbps=fast\n").error(),
                         "io.max: line 2: expected a number or 'max'"));
  EXPECT_TRUE(StartsWith(parse_io_max("8:16 wiops=-1\n").error(), "io.max: line 1: "));
  EXPECT_TRUE(StartsWith(parse_io_max("8:16 wbps=18446744073709551616\n").error(), "io.max: line 1: "));
  EXPECT_TRUE(StartsWith(parse_io_max("nvme0n1 rbps=1\n").error(), "io.max: line 1: expected 'MAJ:MIN"));
  EXPECT_TRUE(StartsWith(parse_io_max(kBinaryJunk).error(), "io.max: line 1: "));
}

TEST(IoMemoryParseTest, IoWeightIsTheDefaultOfV2OrTheBareV1Number) {
  EXPECT_EQ(*weight("default 100\n8:16 200\n"), 100u);
  EXPECT_EQ(*weight("8:16 200\ndefault 300\n"), 300u);  // a per-device line is not the default
  EXPECT_EQ(*weight("500\n"), 500u);                    // v1 blkio.weight
}

TEST(IoMemoryParseTest, IoWeightMalformedNamesFileAndLine) {
  EXPECT_EQ(weight("default\n").error(),
            "io.weight: line 1: expected 'default <weight>' or 'MAJ:MIN <weight>', got 'default'");
  EXPECT_TRUE(StartsWith(weight("default 100\n8:16 heavy\n").error(), "io.weight: line 2: "));
  EXPECT_TRUE(StartsWith(weight("-5\n").error(), "io.weight: line 1: "));
  EXPECT_TRUE(StartsWith(weight("default 18446744073709551616\n").error(), "io.weight: line 1: "));
  EXPECT_TRUE(StartsWith(weight(kBinaryJunk).error(), "io.weight: line 1: "));
  EXPECT_EQ(weight("").error(), "io.weight: no default weight");
  EXPECT_EQ(weight("8:16 200\n").error(), "io.weight: no default weight");
}

TEST(IoMemoryParseTest, BlkioThrottleV1MergesTheFourFilesPerDevice) {
  std::vector<model::IoDeviceLimit> limits;
  ASSERT_TRUE(throttle_v1("8:16 1048576\n8:0 2097152\n", BlkioLimit::kReadBps, limits).ok());
  ASSERT_TRUE(throttle_v1("8:16 100\n", BlkioLimit::kWriteIops, limits).ok());
  ASSERT_TRUE(throttle_v1("", BlkioLimit::kWriteBps, limits).ok());  // no rules
  ASSERT_TRUE(throttle_v1("8:0 50\n", BlkioLimit::kReadIops, limits).ok());
  ASSERT_EQ(limits.size(), 2u);
  EXPECT_EQ(limits[0], (model::IoDeviceLimit{make_dev(8, 16), 1048576, std::nullopt, std::nullopt, 100}));
  EXPECT_EQ(limits[1], (model::IoDeviceLimit{make_dev(8, 0), 2097152, std::nullopt, 50, std::nullopt}));
}

TEST(IoMemoryParseTest, BlkioThrottleV1MalformedNamesFileAndLine) {
  std::vector<model::IoDeviceLimit> l;
  EXPECT_EQ(throttle_v1("8:16\n", BlkioLimit::kReadBps, l).error(),
            "blkio.throttle: line 1: expected 'MAJ:MIN <limit>', got '8:16'");
  EXPECT_TRUE(StartsWith(throttle_v1("8:0 1\n8:16 1 2\n", BlkioLimit::kReadBps, l).error(),
                         "blkio.throttle: line 2: "));
  EXPECT_TRUE(StartsWith(throttle_v1("8:16 -1\n", BlkioLimit::kWriteBps, l).error(),
                         "blkio.throttle: line 1: "));
  EXPECT_TRUE(
      StartsWith(throttle_v1("8:16 18446744073709551616\n", BlkioLimit::kReadIops, l).error(),
                 "blkio.throttle: line 1: "));
  EXPECT_TRUE(StartsWith(throttle_v1("sda 5\n", BlkioLimit::kWriteIops, l).error(),
                         "blkio.throttle: line 1: "));
  EXPECT_TRUE(StartsWith(throttle_v1(kBinaryJunk, BlkioLimit::kReadBps, l).error(),
                         "blkio.throttle: line 1: "));
}

TEST(IoMemoryParseTest, FlatKeyedKeepsEveryKey) {
  auto keys =
      parse_flat_keyed("memory.events", "low 0\nhigh 7\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
  ASSERT_TRUE(keys.ok()) << keys.error();
  EXPECT_EQ(keys->size(), 6u);
  EXPECT_EQ(keys->at("high"), 7u);
  EXPECT_EQ(keys->at("oom_group_kill"), 0u);  // unknown to cgscope, kept
  auto tabs = parse_flat_keyed("memory.stat", "anon\t4096\nfile   18446744073709551615");
  ASSERT_TRUE(tabs.ok()) << tabs.error();
  EXPECT_EQ(tabs->at("anon"), 4096u);
  EXPECT_EQ(tabs->at("file"), 18446744073709551615ull);
  ASSERT_TRUE(parse_flat_keyed("memory.stat", "").ok());
}

TEST(IoMemoryParseTest, FlatKeyedMalformedNamesFileAndLine) {
  EXPECT_EQ(parse_flat_keyed("memory.stat", "anon 1\nfile lots\n").error(),
            "memory.stat: line 2: expected '<key> <u64>', got 'file lots'");
  EXPECT_EQ(parse_flat_keyed("memory.events", "oom_kill\n").error(),
            "memory.events: line 1: expected '<key> <value>', got 'oom_kill'");
  EXPECT_TRUE(StartsWith(parse_flat_keyed("memory.stat", "anon -1\n").error(), "memory.stat: line 1: "));
  EXPECT_TRUE(StartsWith(parse_flat_keyed("memory.stat", "anon 18446744073709551616\n").error(),
                         "memory.stat: line 1: "));
  EXPECT_TRUE(StartsWith(parse_flat_keyed("memory.stat", "anon 1 2\n").error(), "memory.stat: line 1: "));
  EXPECT_TRUE(StartsWith(parse_flat_keyed("memory.oom_control", "oom_kill 0\n" + kBinaryJunk).error(),
                         "memory.oom_control: line 2: "));
}

TEST(IoMemoryParseTest, MemoryLimitMaxNumberAndV1Unlimited) {
  auto max = parse_memory_limit("max\n");
  ASSERT_TRUE(max.ok()) << max.error();
  EXPECT_FALSE(*max);
  EXPECT_EQ(*parse_memory_limit("1073741824\n"), std::optional<std::uint64_t>(1073741824));
  EXPECT_EQ(*parse_memory_limit("0"), std::optional<std::uint64_t>(0));
  auto v1_unlimited = parse_memory_limit("9223372036854771712\n");  // PAGE_COUNTER_MAX * 4096
  ASSERT_TRUE(v1_unlimited.ok());
  EXPECT_FALSE(*v1_unlimited);
}

TEST(IoMemoryParseTest, MemoryLimitGarbageIsAnErrorQuotingTheText) {
  for (const std::string bad : {"lots", "-1", "", "1G", "18446744073709551616", "max 1"}) {
    auto r = parse_memory_limit(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(Contains(r.error(), "'" + bad + "'"));
  }
  EXPECT_FALSE(parse_memory_limit(kBinaryJunk).ok());
}

TEST(IoMemoryParseTest, MemoryStatFromV2Keys) {
  const std::map<std::string, std::uint64_t, std::less<>> keys{
      {"anon", 100},
      {"file", 200},
      {"file_dirty", 30},
      {"file_writeback", 4},
      {"shmem", 5},
      {"pgfault", 600},
      {"pgmajfault", 7},
      {"workingset_refault_anon", 8},
      {"workingset_refault_file", 9},
      {"rss", 111},
      {"cache", 222}};  // v1 names in a v2 file are not used
  const auto st = memory_stat_from(keys, false);
  EXPECT_EQ(st, (model::MemoryStat{100, 200, 30, 4, 5, 600, 7, 8, 9}));
  EXPECT_EQ(memory_stat_from({}, false), model::MemoryStat{});  // nothing known: all unset
}

TEST(IoMemoryParseTest, MemoryStatFromV1Keys) {
  const std::map<std::string, std::uint64_t, std::less<>> keys{
      {"rss", 100},     {"cache", 200},    {"dirty", 30}, {"writeback", 4}, {"shmem", 5},
      {"pgfault", 600}, {"pgmajfault", 7}, {"anon", 999}, {"file", 999}};
  const auto st = memory_stat_from(keys, true);
  EXPECT_EQ(st.anon_bytes, 100u);
  EXPECT_EQ(st.file_bytes, 200u);
  EXPECT_EQ(st.file_dirty_bytes, 30u);
  EXPECT_EQ(st.file_writeback_bytes, 4u);
  EXPECT_EQ(st.shmem_bytes, 5u);
  EXPECT_EQ(st.pgfault, 600u);
  EXPECT_EQ(st.pgmajfault, 7u);
  EXPECT_FALSE(st.workingset_refault_file);
}

TEST(IoMemoryParseTest, MemoryStatRefaultFallsBackToTheOldKey) {
  const std::map<std::string, std::uint64_t, std::less<>> old{{"workingset_refault", 42}};
  EXPECT_EQ(memory_stat_from(old, true).workingset_refault_file, 42u);
  EXPECT_EQ(memory_stat_from(old, false).workingset_refault_file, 42u);
  EXPECT_FALSE(memory_stat_from(old, false).workingset_refault_anon);
  const std::map<std::string, std::uint64_t, std::less<>> both{{"workingset_refault", 42},
                                                               {"workingset_refault_file", 7}};
  EXPECT_EQ(memory_stat_from(both, false).workingset_refault_file, 7u);  // the 5.9+ key wins
}

// ---- Cgroupfs::read_io / read_memory on fake trees ----

namespace {

class IoMemoryTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cgscope-iomem-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& rel, const std::string& content) {
    const fs::path p = root_ + rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  void mkdir(const std::string& rel) { fs::create_directories(root_ + rel); }
  CgroupfsOptions options(Layout layout) {
    CgroupfsOptions o;
    o.hierarchy.layout = layout;
    if (layout != Layout::kV1) o.hierarchy.v2_root = root_ + "/unified";
    if (layout != Layout::kV2) {
      o.hierarchy.v1_roots["cpu"] = root_ + "/cpu";
      o.hierarchy.v1_roots["cpuacct"] = root_ + "/cpu";
      o.hierarchy.v1_roots["memory"] = root_ + "/memory";
      o.hierarchy.v1_roots["blkio"] = root_ + "/blkio";
    }
    o.proc_root = root_ + "/proc";
    return o;
  }
  // Scans and returns the sample of `path` (fails the test if it is not found).
  model::CgroupSample sample_of(Cgroupfs& cg, const std::string& path) {
    auto scan = cg.scan();
    EXPECT_TRUE(scan.ok()) << scan.error();
    model::CgroupSample s;
    if (scan.ok())
      for (const auto& c : scan->cgroups)
        if (c.path == path) s.identity = c;
    EXPECT_EQ(s.identity.path, path) << "cgroup not found by the scan";
    return s;
  }

  std::string root_;
};

const char* kPsi =
    "some avg10=1.00 avg60=0.50 avg300=0.25 total=1000\nfull avg10=0.50 avg60=0.25 avg300=0.10 total=400\n";

}  // namespace

TEST_F(IoMemoryTreeTest, PureV2ReadsTheIoFiles) {
  const std::string dir = "/unified/system.slice/db.service";
  write(dir + "/io.stat",
        "8:16 rbytes=1048576 wbytes=4096 rios=256 wios=1 dbytes=0 dios=0 cost.usage=12 cost.wait=0\n"
        "259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
  write(dir + "/io.max", "8:16 rbps=2097152 wbps=max riops=max wiops=120\n");
  write(dir + "/io.weight", "default 100\n8:16 200\n");
  write(dir + "/io.bfq.weight", "default 300\n");  // io.weight comes first
  write(dir + "/io.pressure", kPsi);
  Cgroupfs cg(options(Layout::kV2));
  auto s = sample_of(cg, "/system.slice/db.service");
  EXPECT_NO_THROW(cg.read_io(s));
  ASSERT_EQ(s.io_stat.size(), 2u);
  EXPECT_EQ(s.io_stat[0], (model::IoStatDevice{make_dev(8, 16), 1048576, 4096, 256, 1, 0, 0}));
  EXPECT_EQ(s.io_stat[1].dev, make_dev(259, 0));
  ASSERT_EQ(s.io_knobs.limits.size(), 1u);
  EXPECT_EQ(s.io_knobs.limits[0],
            (model::IoDeviceLimit{make_dev(8, 16), 2097152, std::nullopt, std::nullopt, 120}));
  EXPECT_EQ(s.io_knobs.weight, 100u);
  EXPECT_EQ(s.io_knobs.weight_file, "io.weight");
  ASSERT_TRUE(s.io_pressure.some && s.io_pressure.full);
  EXPECT_EQ(s.io_pressure.some->total_usec, 1000u);
  EXPECT_EQ(s.io_pressure.full->total_usec, 400u);
  EXPECT_EQ(cg.parse_errors(), 0u);
  EXPECT_EQ(cg.read_errors(), 0u);
}

TEST_F(IoMemoryTreeTest, PureV2UsesIoBfqWeightWhenIoWeightIsAbsent) {
  write("/unified/bfq/io.bfq.weight", "default 250\n8:0 100\n");
  Cgroupfs cg(options(Layout::kV2));
  auto s = sample_of(cg, "/bfq");
  cg.read_io(s);
  EXPECT_EQ(s.io_knobs.weight, 250u);
  EXPECT_EQ(s.io_knobs.weight_file, "io.bfq.weight");
  EXPECT_EQ(cg.parse_errors(), 0u);
}

TEST_F(IoMemoryTreeTest, PureV2ReadsTheMemoryFiles) {
  const std::string dir = "/unified/app";
  write(dir + "/memory.current", "104857600\n");
  write(dir + "/memory.peak", "209715200\n");
  write(dir + "/memory.max", "max\n");
  write(dir + "/memory.high", "1073741824\n");
  write(dir + "/memory.low", "0\n");
  write(dir + "/memory.min", "16777216\n");
  write(dir + "/memory.swap.max", "max\n");
  write(dir + "/memory.stat",
        "anon 50000\nfile 40000\nkernel 1000\nshmem 300\nfile_dirty 2000\nfile_writeback 100\npgfault 9000\n"
        "pgmajfault 12\nworkingset_refault_anon 3\nworkingset_refault_file 45\nthp_fault_alloc 0\n");
  write(dir + "/memory.events", "low 0\nhigh 7\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
  write(dir + "/memory.pressure", kPsi);
  Cgroupfs cg(options(Layout::kV2));
  auto s = sample_of(cg, "/app");
  EXPECT_NO_THROW(cg.read_memory(s));
  const auto& k = s.memory_knobs;
  EXPECT_EQ(k.current_bytes, 104857600u);
  EXPECT_EQ(k.peak_bytes, 209715200u);
  EXPECT_FALSE(k.max_bytes);
  EXPECT_EQ(k.high_bytes, 1073741824u);
  EXPECT_EQ(k.low_bytes, 0u);
  EXPECT_EQ(k.min_bytes, 16777216u);
  EXPECT_FALSE(k.swap_max_bytes);
  EXPECT_FALSE(k.v1);
  EXPECT_EQ(s.memory_stat, (model::MemoryStat{50000, 40000, 2000, 100, 300, 9000, 12, 3, 45}));
  EXPECT_EQ(s.memory_events, (model::MemoryEvents{0, 7, 3, 1, 1}));
  ASSERT_TRUE(s.memory_pressure.full);
  EXPECT_EQ(s.memory_pressure.full->total_usec, 400u);
  EXPECT_EQ(cg.parse_errors(), 0u);
}

TEST_F(IoMemoryTreeTest, V2RootPressureFallsBackToProcPressure) {
  write("/proc/pressure/io",
        "some avg10=0 avg60=0 avg300=0 total=111\nfull avg10=0 avg60=0 avg300=0 total=11\n");
  write("/proc/pressure/memory",
        "some avg10=0 avg60=0 avg300=0 total=222\nfull avg10=0 avg60=0 avg300=0 total=22\n");
  mkdir("/unified/child");  // a child without pressure files gets none: no fallback below the root
  Cgroupfs cg(options(Layout::kV2));
  auto root = sample_of(cg, "/");
  cg.read_io(root);
  cg.read_memory(root);
  ASSERT_TRUE(root.io_pressure.some);
  EXPECT_EQ(root.io_pressure.some->total_usec, 111u);
  ASSERT_TRUE(root.memory_pressure.full);
  EXPECT_EQ(root.memory_pressure.full->total_usec, 22u);
  auto child = sample_of(cg, "/child");
  cg.read_io(child);
  cg.read_memory(child);
  EXPECT_FALSE(child.io_pressure.some);
  EXPECT_FALSE(child.memory_pressure.some);
  EXPECT_EQ(cg.parse_errors(), 0u);
}

TEST_F(IoMemoryTreeTest, MissingFilesLeaveFieldsUnsetWithoutErrors) {
  mkdir("/unified/bare");
  write("/unified/nomem/memory.stat", "anon 5\n");  // no memory.current: controller off here
  write("/unified/nomem/memory.pressure", kPsi);    // pressure exists without the controller
  Cgroupfs cg(options(Layout::kV2));
  auto bare = sample_of(cg, "/bare");
  cg.read_io(bare);
  cg.read_memory(bare);
  EXPECT_TRUE(bare.io_stat.empty());
  EXPECT_EQ(bare.io_knobs, model::IoKnobs{});
  EXPECT_EQ(bare.io_pressure, model::Pressure{});
  EXPECT_EQ(bare.memory_knobs, model::MemoryKnobs{});
  EXPECT_EQ(bare.memory_stat, model::MemoryStat{});
  EXPECT_EQ(bare.memory_events, model::MemoryEvents{});
  auto nomem = sample_of(cg, "/nomem");
  cg.read_memory(nomem);
  EXPECT_FALSE(nomem.memory_stat.anon_bytes);
  EXPECT_TRUE(nomem.memory_pressure.some);
  EXPECT_EQ(cg.parse_errors(), 0u);
  EXPECT_EQ(cg.read_errors(), 0u);
}

TEST_F(IoMemoryTreeTest, GarbageIsCountedNamedAndNeverThrown) {
  const std::string dir = "/unified/bad";
  write(dir + "/io.stat", "8:0 rbytes=1\n8:0 rbytes=lots\n");
  write(dir + "/io.max", kBinaryJunk);
  write(dir + "/io.weight", "default heavy\n");
  write(dir + "/io.pressure", "sometimes\n");
  write(dir + "/memory.current", "4096\n");
  write(dir + "/memory.max", "-1\n");
  write(dir + "/memory.stat", "anon 1\nfile 99999999999999999999999\n");
  write(dir + "/memory.events", "oom_kill\n");
  write(dir + "/memory.pressure", kBinaryJunk);
  Cgroupfs cg(options(Layout::kV2));
  auto s = sample_of(cg, "/bad");
  const std::string base = root_ + dir;

  EXPECT_NO_THROW(cg.read_io(s));
  EXPECT_EQ(cg.parse_errors(), 4u);  // io.stat, io.max, io.weight, io.pressure
  EXPECT_TRUE(StartsWith(cg.last_error(), base + "/io.pressure: "));
  EXPECT_TRUE(s.io_stat.empty());
  EXPECT_TRUE(s.io_knobs.limits.empty());
  EXPECT_FALSE(s.io_knobs.weight);
  EXPECT_FALSE(s.io_pressure.some);

  EXPECT_NO_THROW(cg.read_memory(s));
  EXPECT_EQ(cg.parse_errors(), 8u);  // + memory.max, memory.stat, memory.events, memory.pressure
  EXPECT_TRUE(StartsWith(cg.last_error(), base + "/memory.pressure: "));
  EXPECT_EQ(s.memory_knobs.current_bytes, 4096u);
  EXPECT_EQ(s.memory_stat, model::MemoryStat{});
  EXPECT_EQ(s.memory_events, model::MemoryEvents{});
  EXPECT_EQ(cg.read_errors(), 0u);

  // Each error message names the file (and the line, for line-oriented files).
  auto last_after = [&](const std::string& file, const std::string& content) {
    write(dir + "/" + file, content);
    model::CgroupSample again;
    again.identity = s.identity;
    cg.read_io(again);
    cg.read_memory(again);
    return cg.last_error();
  };
  write(dir + "/memory.pressure", kPsi);
  write(dir + "/memory.events", "oom 0\n");
  write(dir + "/memory.stat", "anon 1\n");
  EXPECT_TRUE(StartsWith(last_after("memory.max", "1G\n"), base + "/memory.max: "));
  write(dir + "/memory.max", "max\n");
  EXPECT_EQ(last_after("memory.stat", "anon 1\nfile lots\n"),
            base + "/memory.stat: memory.stat: line 2: expected '<key> <u64>', got 'file lots'");
  write(dir + "/memory.stat", "anon 1\n");
  EXPECT_EQ(last_after("memory.events", "high 1\noom_kill\n"),
            base + "/memory.events: memory.events: line 2: expected '<key> <value>', got 'oom_kill'");
  write(dir + "/memory.events", "oom 0\n");
  write(dir + "/io.pressure", kPsi);
  write(dir + "/io.weight", "default 100\n");
  write(dir + "/io.max", "");
  EXPECT_TRUE(StartsWith(last_after("io.stat", "8:0 rbytes=1\n8:0 rbytes=lots\n"),
                         base + "/io.stat: io.stat: line 2: "));
}

TEST_F(IoMemoryTreeTest, HybridScanResolvesV1MemoryAndBlkioPaths) {
  mkdir("/unified/web");
  mkdir("/cpu/web");
  mkdir("/memory/web");
  mkdir("/blkio/web");
  // "moved" lives elsewhere in the v1 memory and blkio hierarchies: found through a member task.
  write("/unified/moved/cgroup.procs", "4242\n4243\n");
  mkdir("/cpu/moved");
  mkdir("/memory/elsewhere/mem");
  mkdir("/blkio/elsewhere");
  write("/proc/4242/cgroup",
        "5:blkio:/elsewhere\n4:memory:/elsewhere/mem\n1:cpu,cpuacct:/moved\n0::/moved\n");
  Cgroupfs cg(options(Layout::kHybrid));
  auto web = sample_of(cg, "/web");
  EXPECT_EQ(web.identity.v1_memory_path, "/web");
  EXPECT_EQ(web.identity.v1_blkio_path, "/web");
  auto moved = sample_of(cg, "/moved");
  EXPECT_EQ(moved.identity.v1_memory_path, "/elsewhere/mem");
  EXPECT_EQ(moved.identity.v1_blkio_path, "/elsewhere");
  // A rescan keeps the resolution even when the member task is gone.
  fs::remove(root_ + "/proc/4242/cgroup");
  auto rescanned = sample_of(cg, "/moved");
  EXPECT_EQ(rescanned.identity.v1_memory_path, "/elsewhere/mem");
  EXPECT_EQ(rescanned.identity.v1_blkio_path, "/elsewhere");
}

TEST_F(IoMemoryTreeTest, HybridReadsMemoryFromV1AndPressureFromV2) {
  write("/unified/web/memory.pressure", kPsi);
  const std::string v1 = "/memory/web";
  write(v1 + "/memory.usage_in_bytes", "104857600\n");
  write(v1 + "/memory.max_usage_in_bytes", "209715200\n");
  write(v1 + "/memory.limit_in_bytes", "9223372036854771712\n");  // never set: unlimited
  write(v1 + "/memory.soft_limit_in_bytes", "52428800\n");
  write(v1 + "/memory.stat",
        "cache 1\nrss 2\nshmem 3\ndirty 4\nwriteback 5\npgfault 6\npgmajfault 7\nworkingset_refault_file 8\n"
        "hierarchical_memory_limit 9223372036854771712\ntotal_cache 4000\ntotal_rss 8000\ntotal_shmem 30\n"
        "total_dirty 40\ntotal_writeback 50\ntotal_pgfault 600\ntotal_pgmajfault 70\n"
        "total_workingset_refault_file 80\ntotal_workingset_refault_anon 9\n");
  write(v1 + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  write(v1 + "/memory.failcnt", "5\n");
  mkdir("/cpu/web");
  mkdir("/blkio/web");
  Cgroupfs cg(options(Layout::kHybrid));
  auto s = sample_of(cg, "/web");
  cg.read_memory(s);
  const auto& k = s.memory_knobs;
  EXPECT_TRUE(k.v1);
  EXPECT_EQ(k.current_bytes, 104857600u);
  EXPECT_EQ(k.peak_bytes, 209715200u);
  EXPECT_FALSE(k.max_bytes);
  EXPECT_EQ(k.low_bytes, 52428800u);
  EXPECT_FALSE(k.high_bytes);
  // Hierarchical total_* values, like v2's memory.stat.
  EXPECT_EQ(s.memory_stat, (model::MemoryStat{8000, 4000, 40, 50, 30, 600, 70, 9, 80}));
  EXPECT_EQ(s.memory_events.oom_kill, 2u);
  EXPECT_EQ(s.memory_events.max, 5u);  // failcnt
  EXPECT_FALSE(s.memory_events.oom);
  ASSERT_TRUE(s.memory_pressure.some);
  EXPECT_EQ(s.memory_pressure.some->total_usec, 1000u);
  EXPECT_EQ(cg.parse_errors(), 0u);
}

TEST_F(IoMemoryTreeTest, HybridReadsBlkioFromV1AndPressureFromV2) {
  write("/unified/web/io.pressure", kPsi);
  const std::string v1 = "/blkio/web";
  write(v1 + "/blkio.throttle.io_service_bytes_recursive",
        "8:16 Read 1048576\n8:16 Write 8192\n8:16 Sync 8192\n8:16 Async 1048576\n8:16 Discard 0\n"
        "8:16 Total 1056768\nTotal 1056768\n");
  write(v1 + "/blkio.throttle.io_serviced_recursive",
        "8:16 Read 256\n8:16 Write 2\n8:16 Sync 2\n8:16 Async 256\n8:16 Discard 0\n8:16 Total 258\nTotal "
        "258\n");
  write(v1 + "/blkio.throttle.io_service_bytes", "8:16 Read 1\nTotal 1\n");  // non-recursive: not used
  write(v1 + "/blkio.throttle.read_bps_device", "8:16 1048576\n");
  write(v1 + "/blkio.throttle.write_iops_device", "8:16 100\n");
  write(v1 + "/blkio.throttle.write_bps_device", "");
  write(v1 + "/blkio.bfq.weight", "100\n");
  write(v1 + "/blkio.weight", "500\n");  // blkio.bfq.weight comes first
  mkdir("/cpu/web");
  mkdir("/memory/web");
  Cgroupfs cg(options(Layout::kHybrid));
  auto s = sample_of(cg, "/web");
  cg.read_io(s);
  ASSERT_EQ(s.io_stat.size(), 1u);
  EXPECT_EQ(s.io_stat[0], (model::IoStatDevice{make_dev(8, 16), 1048576, 8192, 256, 2, 0, 0}));
  ASSERT_EQ(s.io_knobs.limits.size(), 1u);
  EXPECT_EQ(s.io_knobs.limits[0],
            (model::IoDeviceLimit{make_dev(8, 16), 1048576, std::nullopt, std::nullopt, 100}));
  EXPECT_EQ(s.io_knobs.weight, 100u);
  EXPECT_EQ(s.io_knobs.weight_file, "blkio.bfq.weight");
  ASSERT_TRUE(s.io_pressure.full);
  EXPECT_EQ(s.io_pressure.full->total_usec, 400u);
  EXPECT_EQ(cg.parse_errors(), 0u);
}

TEST_F(IoMemoryTreeTest, HybridGarbageInOneBlkioFileDropsTheMergedStat) {
  const std::string v1 = "/blkio/web";
  write(v1 + "/blkio.throttle.io_service_bytes_recursive", "8:16 Read lots\n");
  write(v1 + "/blkio.throttle.io_serviced_recursive", "8:16 Read 256\nTotal 256\n");
  write(v1 + "/blkio.weight", "heavy\n");
  write("/memory/web/memory.limit_in_bytes", "unlimited\n");
  mkdir("/unified/web");
  mkdir("/cpu/web");
  Cgroupfs cg(options(Layout::kHybrid));
  auto s = sample_of(cg, "/web");
  EXPECT_NO_THROW(cg.read_io(s));
  EXPECT_TRUE(s.io_stat.empty());  // half a stat (ios without bytes) would mislead
  EXPECT_FALSE(s.io_knobs.weight);
  EXPECT_EQ(cg.parse_errors(), 2u);
  EXPECT_TRUE(StartsWith(cg.last_error(), root_ + v1 + "/blkio.weight: "));
  EXPECT_NO_THROW(cg.read_memory(s));
  EXPECT_EQ(cg.parse_errors(), 3u);
  EXPECT_TRUE(StartsWith(cg.last_error(), root_ + "/memory/web/memory.limit_in_bytes: "));
  EXPECT_TRUE(Contains(cg.last_error(), "'unlimited'"));
}

TEST_F(IoMemoryTreeTest, PureV1ReadsMemoryAndBlkioByTheCpuHierarchyPath) {
  mkdir("/cpu/batch");
  write("/memory/batch/memory.usage_in_bytes", "4096\n");
  write("/memory/batch/memory.limit_in_bytes", "268435456\n");
  write("/memory/batch/memory.stat", "cache 10\nrss 20\ntotal_cache 10\ntotal_rss 20\n");
  write("/blkio/batch/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 512\n8:0 Write 1024\nTotal 1536\n");
  write("/blkio/batch/blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n");
  write("/blkio/batch/blkio.weight", "500\n");
  Cgroupfs cg(options(Layout::kV1));
  auto s = sample_of(cg, "/batch");
  EXPECT_EQ(s.identity.v1_memory_path, "/batch");
  EXPECT_EQ(s.identity.v1_blkio_path, "/batch");
  cg.read_memory(s);
  cg.read_io(s);
  EXPECT_TRUE(s.memory_knobs.v1);
  EXPECT_EQ(s.memory_knobs.current_bytes, 4096u);
  EXPECT_EQ(s.memory_knobs.max_bytes, 268435456u);
  EXPECT_EQ(s.memory_stat.anon_bytes, 20u);
  EXPECT_EQ(s.memory_stat.file_bytes, 10u);
  EXPECT_FALSE(s.memory_pressure.some);  // no v2: no PSI per cgroup
  ASSERT_EQ(s.io_stat.size(), 1u);
  EXPECT_EQ(s.io_stat[0], (model::IoStatDevice{make_dev(8, 0), 512, 1024, 1, 2, 0, 0}));
  EXPECT_EQ(s.io_knobs.weight, 500u);
  EXPECT_EQ(s.io_knobs.weight_file, "blkio.weight");
  EXPECT_FALSE(s.io_pressure.some);
  EXPECT_EQ(cg.parse_errors(), 0u);
  EXPECT_EQ(cg.read_errors(), 0u);
}

TEST(IoMemoryParseTest, BlkioThrottleV1WithABadLineChangesNothing) {
  std::vector<model::IoDeviceLimit> limits;
  ASSERT_TRUE(throttle_v1("8:0 5\n", BlkioLimit::kReadBps, limits).ok());
  EXPECT_FALSE(throttle_v1("8:16 100\ngarbage\n", BlkioLimit::kWriteBps, limits).ok());
  ASSERT_EQ(limits.size(), 1u);
  EXPECT_EQ(limits[0], (model::IoDeviceLimit{make_dev(8, 0), 5, std::nullopt, std::nullopt, std::nullopt}));
}
