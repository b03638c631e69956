// Symbolization and the other pure parts of the profiler: kallsyms, /proc/PID/maps and CPU
// list parsing, cgroup patterns, ELF symbol lookup on a test binary, and the symbolizer over a
// fake /proc tree (no root needed).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "collector/profile/cgroup_glob.hpp"
#include "collector/profile/cpu_list.hpp"
#include "collector/profile/symbolize/elf_module.hpp"
#include "collector/profile/symbolize/kallsyms.hpp"
#include "collector/profile/symbolize/proc_maps.hpp"
#include "collector/profile/symbolize/symbolizer.hpp"
#include "model/cgroup_identity.hpp"

using namespace cgscope;
using namespace cgscope::collector;
namespace fs = std::filesystem;

namespace {

constexpr const char* kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81000000 T _text\n"
    "ffffffff81001000 t do_one_initcall\n"
    "ffffffff81002000 D some_data\n"
    "ffffffff81003000 T vfs_read\n"
    "ffffffff81003400 W weak_fn\n"
    "ffffffffc0201000 t ext4_file_read_iter\t[ext4]\n"
    "ffffffffc0202000 t nf_hook\t[nf_tables]\n"
    "garbage line\n";

}  // namespace

TEST(KallsymsTest, TextSymbolsSortedWithModules) {
  auto ks = KernelSymbols::parse(kKallsyms);
  ASSERT_TRUE(ks.ok()) << ks.error();
  EXPECT_EQ((*ks)->size(), 7u);  // the D symbol and the garbage line are not text
  auto s = (*ks)->lookup(0xffffffff81003123);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "vfs_read");
  EXPECT_EQ(s->module, "");
  s = (*ks)->lookup(0xffffffffc0201010);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "ext4_file_read_iter");
  EXPECT_EQ(s->module, "ext4");
  EXPECT_EQ((*ks)->lookup(0xffffffff81003400)->name, "weak_fn");
  EXPECT_FALSE((*ks)->lookup(0x1000));  // below the first symbol
}

TEST(KallsymsTest, HiddenAddressesAreAClearError) {
  auto ks = KernelSymbols::parse("0000000000000000 T _stext\n0000000000000000 t vfs_read\n");
  ASSERT_FALSE(ks.ok());
  EXPECT_NE(ks.error().find("kptr_restrict"), std::string::npos) << ks.error();
  EXPECT_FALSE(KernelSymbols::parse("").ok());
  EXPECT_FALSE(KernelSymbols::load("/nonexistent/kallsyms").ok());
}

TEST(ProcMapsTest, ParsesFileAnonymousDeletedAndPseudoMappings) {
  std::size_t bad = 0;
  const auto maps = parse_proc_maps(
      "55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1234                       /usr/bin/app\n"
      "55d0c0a01000-55d0c0a02000 r-xp 00001000 fd:01 1234                       /usr/bin/app\n"
      "7f0000000000-7f0000100000 rwxp 00000000 00:00 0 \n"
      "7f0000200000-7f0000300000 r-xp 00000000 00:05 77                         /memfd:jit (deleted)\n"
      "7f0000400000-7f0000500000 r-xp 00002000 08:02 99                         /opt/my app/lib x.so "
      "(deleted)\n"
      "7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]\n"
      "nonsense\n",
      &bad);
  EXPECT_EQ(bad, 1u);
  ASSERT_EQ(maps.size(), 6u);
  EXPECT_FALSE(maps[0].executable);
  EXPECT_TRUE(maps[1].executable);
  EXPECT_EQ(maps[1].offset, 0x1000u);
  EXPECT_EQ(maps[1].dev_major, 0xfdu);
  EXPECT_EQ(maps[1].inode, 1234u);
  EXPECT_TRUE(maps[1].is_file());
  EXPECT_EQ(mapping_display_name(maps[1]), "app");
  EXPECT_EQ(maps[2].path, "");
  EXPECT_FALSE(maps[2].is_file());
  EXPECT_EQ(mapping_display_name(maps[2]), "[anon]");
  EXPECT_TRUE(maps[3].deleted);
  EXPECT_EQ(maps[3].path, "/memfd:jit");
  EXPECT_FALSE(maps[3].is_file());  // JIT code in a memfd: not a binary to read
  EXPECT_EQ(mapping_display_name(maps[3]), "/memfd:jit");
  EXPECT_EQ(maps[4].path, "/opt/my app/lib x.so");  // spaces in paths survive
  EXPECT_EQ(mapping_display_name(maps[4]), "lib x.so");
  EXPECT_EQ(mapping_display_name(maps[5]), "[vdso]");
}

TEST(CpuListTest, RangesAndSingles) {
  EXPECT_EQ(*parse_cpu_list("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(*parse_cpu_list("0"), (std::vector<int>{0}));
  for (const char* bad : {"", "a", "3-1", "1,,2", "-1"}) EXPECT_FALSE(parse_cpu_list(bad).ok()) << bad;
  // Found by tests/fuzz/fuzz_cgroupfs: a range to INT_MAX allocated 8 GB and never ended.
  EXPECT_FALSE(parse_cpu_list("6-2047440755\n").ok());
  EXPECT_FALSE(parse_cpu_list("0-2147483647").ok());
  EXPECT_EQ(parse_cpu_list("65535")->size(), 1u);
}

TEST(CgroupGlobTest, MatchesPathComponentNameAndContainerId) {
  model::CgroupIdentity docker;
  docker.id = 7;
  docker.path = "/system.slice/docker-8f2c4e6a1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f3a.scope";
  docker.container = model::parse_container_identity(docker.path);
  model::CgroupIdentity nginx;
  nginx.id = 8;
  nginx.path = "/system.slice/nginx.service";
  nginx.container = model::parse_container_identity(nginx.path);

  EXPECT_TRUE(cgroup_matches("/system.slice/docker-*.scope", docker));
  EXPECT_TRUE(cgroup_matches("system.slice/docker-*", docker));  // without the leading '/'
  EXPECT_TRUE(cgroup_matches("8f2c4e6a*", docker));              // container id
  EXPECT_TRUE(cgroup_matches("docker:8f2c4e6a1b3d", docker));    // display name
  EXPECT_TRUE(cgroup_matches("*nginx*", nginx));                 // '*' crosses '/'
  EXPECT_TRUE(cgroup_matches("nginx.service", nginx));           // last component
  EXPECT_FALSE(cgroup_matches("nginx", nginx));
  EXPECT_FALSE(cgroup_matches("/user.slice/*", docker));
  EXPECT_TRUE(cgroup_matches("/system.slice/[dn]*", nginx));

  const auto ids = match_cgroups({"*.service", "/system.slice/*"}, {docker, nginx});
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{7, 8}));  // each once
  EXPECT_TRUE(match_cgroups({"/nothing*"}, {docker, nginx}).empty());
}

TEST(ElfModuleTest, SymbolsSegmentsBuildIdAndLinesOfATestBinary) {
  auto m = ElfModule::open(CGSCOPE_PROFILE_TARGET, "/usr/bin/profile_target");
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ((*m)->name(), "/usr/bin/profile_target");
  EXPECT_EQ((*m)->build_id().size(), 40u) << (*m)->build_id();  // GNU build id: 20 bytes, hex
  EXPECT_TRUE((*m)->has_dwarf());
  const ElfModule::Function* spin_a = nullptr;
  for (const auto& f : (*m)->functions())
    if (std::string_view(f.name) == "spin_a") spin_a = &f;
  ASSERT_NE(spin_a, nullptr);
  ASSERT_GT(spin_a->size, 8u);
  const auto* inside = (*m)->function_at(spin_a->start + spin_a->size / 2);
  ASSERT_NE(inside, nullptr);
  EXPECT_STREQ(inside->name, "spin_a");
  EXPECT_EQ((*m)->function_at(0), nullptr);
  // File offset <-> vaddr round trip.
  const auto off = (*m)->file_offset_of_vaddr(spin_a->start);
  ASSERT_TRUE(off);
  EXPECT_EQ((*m)->vaddr_of_file_offset(*off), spin_a->start);
  const auto line = (*m)->source_line(spin_a->start + 4);
  ASSERT_NE(line.file, nullptr);
  EXPECT_TRUE(std::string_view(line.file).ends_with("profile_target.c")) << line.file;
  EXPECT_GT(line.line, 20);
}

TEST(ElfModuleTest, NotAnElfIsAnError) {
  auto m = ElfModule::open("/proc/self/status", "status");
  EXPECT_FALSE(m.ok());
  auto missing = ElfModule::open("/nonexistent/binary", "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("/nonexistent/binary"), std::string::npos);
}

namespace {

// A fake /proc with one process (pid 4242) that maps the test binary at kBase and has an
// anonymous executable region (JIT code) at kJit.
class FakeProc : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kBase = 0x555500000000;
  static constexpr std::uint64_t kJit = 0x7f0000000000;
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cgscope-fakeproc-" + std::to_string(getpid()));
    fs::remove_all(root_);
    const fs::path target = fs::canonical(CGSCOPE_PROFILE_TARGET);
    const fs::path in_root = root_ / "4242/root" / target.relative_path();
    fs::create_directories(in_root.parent_path());
    fs::create_symlink(target, in_root);
    struct stat st {};
    ASSERT_EQ(stat(target.c_str(), &st), 0);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::ofstream maps(root_ / "4242/maps");
    char line[512];
    std::snprintf(line, sizeof line, "%llx-%llx r-xp 00000000 fd:01 %llu  %s\n",
                  static_cast<unsigned long long>(kBase),
                  static_cast<unsigned long long>(kBase + ((size + 4095) & ~4095ULL)),
                  static_cast<unsigned long long>(st.st_ino), target.c_str());
    maps << line;
    std::snprintf(line, sizeof line, "%llx-%llx rwxp 00000000 00:00 0\n",
                  static_cast<unsigned long long>(kJit), static_cast<unsigned long long>(kJit + 0x100000));
    maps << line;
    maps.close();
    std::ofstream(root_ / "kallsyms") << kKallsyms;

    auto m = ElfModule::open(target, target);
    ASSERT_TRUE(m.ok()) << m.error();
    for (const auto& f : (*m)->functions()) {
      const std::string_view n(f.name);
      if (n == "spin_a" || n == "spin_b" || n == "main" || n == "__libc_start_call_main") {
        addr_[std::string(n)] = kBase + *(*m)->file_offset_of_vaddr(f.start) + 4;
      }
    }
    ASSERT_TRUE(addr_.contains("spin_a") && addr_.contains("main"));
    auto s =
        Symbolizer::create({.proc_root = root_.string(), .kallsyms_path = (root_ / "kallsyms").string()});
    ASSERT_TRUE(s.ok()) << s.error();
    sym_ = std::move(*s);
    sym_->add_process(4242, 1);
  }
  void TearDown() override { fs::remove_all(root_); }

  RawStack stack(std::vector<std::uint64_t> user, std::vector<std::uint64_t> kernel = {},
                 std::uint64_t n = 1) {
    RawStack r;
    r.cgroup_id = 99;
    r.tgid = 4242;
    r.instance = 1;
    r.comm = "target";
    r.user_ips = std::move(user);
    r.kernel_ips = std::move(kernel);
    r.count = n;
    return r;
  }
  std::vector<std::string> names(const model::Profile& p, std::size_t sample) {
    std::vector<std::string> out;
    for (auto f : p.samples.at(sample).frames) out.push_back(p.frames[f].function);
    return out;
  }
  model::Profile run(const std::vector<RawStack>& stacks) {
    SymbolizeRequest req;
    req.period_ns = 1000;
    req.cgroup_name = [](std::uint64_t id) { return CgroupName{id == 99 ? "/test" : "", ""}; };
    return sym_->symbolize(stacks, req);
  }

  fs::path root_;
  std::map<std::string, std::uint64_t> addr_;
  std::unique_ptr<Symbolizer> sym_;
};

}  // namespace

TEST_F(FakeProc, UserAndKernelFramesLeafFirstWithSourceLines) {
  // Return addresses (callers) are looked up one byte back; +4 stays inside either way.
  const auto p = run({stack({addr_["spin_a"], addr_["main"]}, {0xffffffffc0201010, 0xffffffff81003100}, 5)});
  ASSERT_EQ(p.samples.size(), 1u);
  EXPECT_EQ(names(p, 0), (std::vector<std::string>{"ext4_file_read_iter", "vfs_read", "spin_a", "main"}));
  const auto& s = p.samples[0];
  EXPECT_EQ(s.cgroup, "/test");
  EXPECT_EQ(s.values, (std::vector<std::int64_t>{5, 5000}));
  const auto& spin_a = p.frames[s.frames[2]];
  EXPECT_EQ(spin_a.kind, model::FrameKind::kUser);
  EXPECT_TRUE(spin_a.file.ends_with("profile_target.c")) << spin_a.file;
  EXPECT_EQ(spin_a.build_id.size(), 40u);
  EXPECT_EQ(p.frames[s.frames[0]].module, "[ext4]");
  EXPECT_EQ(p.frames[s.frames[1]].module, "[kernel.kallsyms]");
  EXPECT_EQ(sym_->stats().processes, 1u);
  EXPECT_EQ(sym_->stats().modules_opened, 1u);
}

TEST_F(FakeProc, JitAndUnmappedAddressesAreUnknownWithTheMappingName) {
  const auto p =
      run({stack({kJit + 0x10, kJit + 0x20, kJit + 0x30, addr_["main"]}), stack({0x1234, addr_["main"]})});
  // Consecutive frames of the same unknown mapping collapse into one.
  EXPECT_EQ(names(p, 0), (std::vector<std::string>{"[unknown] ([anon])", "main"}));
  EXPECT_EQ(names(p, 1), (std::vector<std::string>{"[unknown] ([unmapped])", "main"}));
  EXPECT_EQ(p.frames[p.samples[0].frames[0]].kind, model::FrameKind::kUnknown);
  EXPECT_GE(sym_->stats().user_frames_unknown, 2u);
}

TEST_F(FakeProc, ShortStacksAreCountedByTheirOutermostBinary) {
  const auto p = run({stack({addr_["spin_a"]}, {}, 3), stack({addr_["spin_b"], addr_["main"]}, {}, 2)});
  ASSERT_EQ(p.samples.size(), 2u);
  const auto& st = sym_->stats();
  EXPECT_EQ(st.user_stack_samples, 5u);
  EXPECT_EQ(st.short_user_stack_samples, 3u);  // spin_a alone never reached main / _start
  ASSERT_EQ(st.short_stack_modules.size(), 1u);
  EXPECT_TRUE(st.short_stack_modules.begin()->first.ends_with("profile_target"));
}

TEST_F(FakeProc, ProcessesWithoutMapsAndLostStacksAreSaidSo) {
  RawStack gone = stack({addr_["spin_a"]});
  gone.tgid = 5555;  // never announced / exited: no maps
  RawStack lost = stack({}, {0xffffffff81003100});
  lost.user_stack_error = -17;  // -EEXIST: hash collision in the stack map
  sym_->add_process(5556, 1);   // no such process in the fake /proc
  const auto p = run({gone, lost});
  EXPECT_EQ(names(p, 0),
            (std::vector<std::string>{"[unknown] ([process exited before its maps were read])"}));
  EXPECT_EQ(names(p, 1),
            (std::vector<std::string>{"vfs_read", "[user stack lost: stack map hash collision]"}));
  EXPECT_EQ(p.frames[p.samples[1].frames[1]].kind, model::FrameKind::kLost);
  EXPECT_EQ(sym_->stats().samples_without_maps, 1u);
  EXPECT_EQ(sym_->stats().processes_gone, 1u);
}

TEST_F(FakeProc, BinariesAreCachedByBuildId) {
  // A second process mapping the same file: the module is not read again.
  fs::create_directories(root_ / "4243");
  fs::copy_file(root_ / "4242/maps", root_ / "4243/maps");
  fs::create_directory_symlink(root_ / "4242/root", root_ / "4243/root");
  sym_->add_process(4243, 7);
  EXPECT_EQ(sym_->stats().processes, 2u);
  EXPECT_EQ(sym_->stats().modules_opened, 1u);
  EXPECT_EQ(sym_->module_count(), 1u);
  RawStack r = stack({addr_["spin_a"]});
  r.tgid = 4243;
  r.instance = 7;
  EXPECT_EQ(names(run({r}), 0), (std::vector<std::string>{"spin_a"}));
}

TEST_F(FakeProc, OffCpuValuesAreTimes) {
  RawStack r = stack({addr_["spin_a"], addr_["main"]}, {}, 4);
  r.off_cpu_ns = 123456;
  SymbolizeRequest req;
  req.mode = ProfileMode::kOffCpu;
  const auto p = sym_->symbolize({r}, req);
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.sample_types[p.default_value].type, "off_cpu");
  EXPECT_EQ(p.samples[0].values, (std::vector<std::int64_t>{4, 123456}));
  EXPECT_EQ(p.samples[0].cgroup, "cgroup#99");  // no name known
}
