// The NFS collector on a kernel without an NFS client (this host): it must wait, say why, and
// try for real once NFS mounts appear. The NFS client itself is tested in the VM
// (tests/vm/nfs_checks.py).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "collector/nfs/nfs.hpp"
#include "helpers.hpp"

namespace cgscope {
namespace {

namespace fs = std::filesystem;

// A procfs stand-in whose self/mountinfo lists an NFS mount (the kernel has none to show).
class FakeProc {
 public:
  FakeProc() : dir_(fs::temp_directory_path() / ("cgscope-nfs-" + std::to_string(getpid()))) {
    fs::create_directories(dir_ / "self");
    std::ofstream(dir_ / "self" / "mountinfo")
        << "22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw\n"
           "40 22 0:40 / /mnt/nfs rw,relatime - nfs 10.0.0.1:/export rw,vers=3,rsize=1048576,wsize=1048576,"
           "hard,proto=tcp,timeo=600,retrans=2,sec=sys,addr=10.0.0.1\n";
    std::ofstream(dir_ / "self" / "mountstats") << "device /dev/vda1 mounted on / with fstype ext4\n";
  }
  ~FakeProc() { fs::remove_all(dir_); }
  std::string path() const { return dir_.string(); }

 private:
  fs::path dir_;
};

model::CollectorStatus collect_once(collector::NfsCollector& c, model::Sample& sample) {
  collector::CgroupIndex index(sample);
  c.collect(sample, index);
  return c.status();
}

TEST(NfsHostTest, WithoutNfsMountsItWaitsAndSaysSo) {
  REQUIRE_BPF_PREREQUISITES();
  auto c = collector::NfsCollector::create({});
  ASSERT_TRUE(c.ok()) << c.error();
  model::Sample sample;
  const auto st = collect_once(**c, sample);
  if (!sample.nfs.mounts.empty()) GTEST_SKIP() << "this host has NFS mounts";
  EXPECT_FALSE(st.active);
  EXPECT_NE(st.message.find("no NFS mount"), std::string::npos) << st.message;
  EXPECT_FALSE(sample.nfs.active);
}

TEST(NfsHostTest, AnNfsMountWithoutTheModuleIsReportedNotCrashed) {
  REQUIRE_BPF_PREREQUISITES();
  if (fs::exists("/sys/module/nfs")) GTEST_SKIP() << "this kernel has an NFS client loaded";
  FakeProc proc;
  collector::NfsCollectorOptions options;
  options.proc_root = proc.path();
  auto c = collector::NfsCollector::create(options);
  ASSERT_TRUE(c.ok()) << c.error();
  model::Sample sample;
  const auto st = collect_once(**c, sample);
  ASSERT_EQ(sample.nfs.mounts.size(), 1u);
  EXPECT_EQ(sample.nfs.mounts[0].export_path, "/export");
  EXPECT_FALSE(st.active);
  EXPECT_NE(st.message.find("module nfs not loaded"), std::string::npos) << st.message;
}

// With a module present (as far as the collector can tell) but no NFS BTF in the kernel, the
// real load fails: the status says what is missing and the collector keeps going.
TEST(NfsHostTest, ALoadFailureSaysWhatIsMissing) {
  REQUIRE_BPF_PREREQUISITES();
  if (fs::exists("/sys/kernel/btf/nfs")) GTEST_SKIP() << "this kernel has the NFS client's BTF";
  FakeProc proc;
  const fs::path sys = fs::path(proc.path()) / "sys";
  fs::create_directories(sys / "module" / "nfs");
  collector::NfsCollectorOptions options;
  options.proc_root = proc.path();
  options.sys_root = sys.string();
  auto c = collector::NfsCollector::create(options);
  ASSERT_TRUE(c.ok()) << c.error();
  model::Sample sample;
  const auto st = collect_once(**c, sample);
  EXPECT_FALSE(st.active);
  EXPECT_NE(st.message.find("NFS programs did not load"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("/sys/kernel/btf/nfs"), std::string::npos) << st.message;
  EXPECT_FALSE((*c)->attached());
}

// A superblock is (dev, instance): the instance is the inode number of /sys/class/bdi/MAJ:MIN,
// which the kernel side reads from the same kernfs node. A remount reuses the dev; the mount
// that went is kept, marked vanished, for the interval in which it went, then dropped.
TEST(NfsHostTest, AMountReplacedBetweenSamplesIsKeptForTheIntervalItVanishedIn) {
  FakeProc proc;
  const fs::path sys = fs::path(proc.path()) / "sys";
  const fs::path bdi = sys / "class" / "bdi";
  fs::create_directories(bdi / "0:40");
  collector::NfsCollectorOptions options;
  options.proc_root = proc.path();
  options.sys_root = sys.string();  // no module/nfs: nothing attaches, mounts are still read
  auto c = collector::NfsCollector::create(options);
  ASSERT_TRUE(c.ok()) << c.error();
  auto ino = [](const fs::path& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 ? static_cast<std::uint32_t>(st.st_ino) : 0u;
  };
  const std::uint32_t first = ino(bdi / "0:40");

  model::Sample s1;
  collect_once(**c, s1);
  ASSERT_EQ(s1.nfs.mounts.size(), 1u);
  EXPECT_EQ(s1.nfs.mounts[0].mount_id, 40u);
  EXPECT_EQ(s1.nfs.mounts[0].sb_instance, first);
  EXPECT_NE(first, 0u);
  EXPECT_FALSE(s1.nfs.mounts[0].vanished);

  // Unmounted and mounted again with other options: same dev, new mount id, new bdi directory
  // (created before the old one goes, so that its inode number differs).
  std::ofstream(fs::path(proc.path()) / "self" / "mountinfo")
      << "22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw\n"
         "41 22 0:40 / /mnt/nfs rw,relatime - nfs 10.0.0.1:/export rw,vers=3,lookupcache=pos,hard,proto=tcp,"
         "addr=10.0.0.1\n";
  fs::create_directories(bdi / "0:40.new");
  fs::rename(bdi / "0:40.new", bdi / "0:40");
  const std::uint32_t second = ino(bdi / "0:40");
  ASSERT_NE(second, first);

  model::Sample s2;
  collect_once(**c, s2);
  ASSERT_EQ(s2.nfs.mounts.size(), 2u);
  const auto& now = s2.nfs.mounts[0];
  const auto& gone = s2.nfs.mounts[1];
  EXPECT_EQ(now.mount_id, 41u);
  EXPECT_EQ(now.sb_instance, second);
  EXPECT_EQ(now.lookupcache, "positive");
  EXPECT_FALSE(now.vanished);
  EXPECT_EQ(gone.mount_id, 40u);
  EXPECT_EQ(gone.sb_instance, first);
  EXPECT_EQ(gone.lookupcache, "all");
  EXPECT_TRUE(gone.vanished);
  EXPECT_EQ(model::find_nfs_mount(s2.nfs.mounts, gone.dev, first), &gone);
  EXPECT_EQ(model::find_nfs_mount(s2.nfs.mounts, now.dev, second), &now);

  model::Sample s3;  // reported once: the next interval no longer lists it
  collect_once(**c, s3);
  ASSERT_EQ(s3.nfs.mounts.size(), 1u);
  EXPECT_EQ(s3.nfs.mounts[0].sb_instance, second);
}

TEST(NfsHostTest, SnapshotNfsViewRunsWithoutAnNfsClient) {
  REQUIRE_BPF_PREREQUISITES();
  const std::string cmd = std::string(CGSCOPE_BINARY) + " snapshot -i 200ms -c 1 --collectors nfs --view nfs 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("nfs: INACTIVE"), std::string::npos) << out;
}

}  // namespace
}  // namespace cgscope
