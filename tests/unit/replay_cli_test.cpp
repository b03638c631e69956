// The cgscope binary on recordings, without root: `snapshot --replay` prints exactly what the
// samples derive to, `diff` ranks only cgroups present long enough to compare, and bad files
// and options give clear errors and exit codes (2 for every usage error, CLI11's included).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/format.hpp"
#include "model/cgroup_identity.hpp"
#include "model/json.hpp"
#include "model/recording/writer.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/synthetic_series.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cgscope;

namespace {

struct Run {
  std::vector<std::string> lines;
  int exit_code = -1;
  std::string text() const {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
};

Run run(std::vector<std::string> args, bool merge_stderr = false) {
  args.insert(args.begin(), CGSCOPE_BINARY);
  test::ChildProcess child(args, merge_stderr);
  Run r;
  r.lines = child.read_rest();
  const int st = child.wait();
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::vector<model::Sample> write_series(const std::string& path, std::size_t n) {
  test::SyntheticSeries series({.cgroups = 20, .churn = 0.02, .seed = 4});
  std::vector<model::Sample> samples;
  auto w = model::recording::RecordingWriter::create(path, {.max_segment_samples = 7});
  EXPECT_TRUE(w.ok()) << w.error();
  if (!w.ok()) return samples;
  for (std::size_t i = 0; i < n; ++i) {
    samples.push_back(series.next());
    EXPECT_TRUE((*w)->append(samples.back()).ok());
  }
  EXPECT_TRUE((*w)->close().ok());
  return samples;
}

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)
#define EXPECT_LACKS(haystack, needle) EXPECT_EQ((haystack).find(needle), std::string::npos) << (haystack)

// A cgroup with a CPU quota that spends `throttled_ms` of every second throttled, in sample
// `i` of a life that began at sample `born` (its counters start from zero there).
model::CgroupSample throttled_cgroup(std::uint64_t id, const std::string& path, std::uint64_t throttled_ms,
                                     std::size_t born, std::size_t i) {
  model::CgroupSample cg;
  cg.identity.id = id;
  cg.identity.path = path;
  cg.identity.container = model::parse_container_identity(path);
  const std::uint64_t seconds = i - born + 1;
  cg.cpu_stat = {seconds * 200'000, seconds * 150'000, seconds * 50'000,
                 seconds * 10,      seconds * 5,       seconds * throttled_ms * 1000};
  cg.cpu_knobs.quota_usec = 20'000;
  cg.cpu_knobs.period_usec = 100'000;
  cg.cpu_knobs.quota_known = true;
  cg.cpu_knobs.weight = 100;
  return cg;
}

struct Life {
  std::uint64_t id;
  std::string path;
  std::uint64_t throttled_ms;  // of every second
  std::size_t first, last;     // samples it is present in
};

// A recording of `samples` samples 1 s apart with these cgroups.
void write_lives(const std::string& path, std::size_t samples, const std::vector<Life>& lives) {
  auto w = model::recording::RecordingWriter::create(path, {});
  ASSERT_TRUE(w.ok()) << w.error();
  for (std::size_t i = 0; i < samples; ++i) {
    model::Sample s;
    s.monotonic_ns = 5'000'000'000ULL + i * 1'000'000'000ULL;
    s.realtime_ns = 1'800'000'000'000'000'000LL + static_cast<std::int64_t>(i) * 1'000'000'000LL;
    s.nr_cpus = 4;
    s.page_size = 4096;
    s.collectors = {{"cgroupfs", true, "layout v2", {{"read_errors", 0}, {"parse_errors", 0}}}};
    for (const Life& l : lives)
      if (i >= l.first && i <= l.last)
        s.cgroups.push_back(throttled_cgroup(l.id, l.path, l.throttled_ms, l.first, i));
    ASSERT_TRUE((*w)->append(s).ok());
  }
  ASSERT_TRUE((*w)->close().ok());
}

}  // namespace

TEST(ReplayCliTest, ReplayPrintsWhatTheSamplesDeriveTo) {
  test::TempDir dir;
  const std::string path = dir.file("r.db");
  const auto samples = write_series(path, 30);
  std::vector<std::string> json, table;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    const auto snap = model::derive(samples[i - 1], samples[i]);
    json.push_back(model::to_json(snap).dump());
    std::string t = cli::render_table(snap, {.all = true, .top = 0}) + "\n";
    for (std::size_t nl; (nl = t.find('\n')) != std::string::npos; t.erase(0, nl + 1))
      table.push_back(t.substr(0, nl));
  }
  auto r = run({"snapshot", "--replay", path, "--json"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.lines, json);
  r = run({"snapshot", "--replay", path, "--all", "--top", "0"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.lines, table);
  r = run({"snapshot", "--replay", path, "--json", "--count", "5"});
  EXPECT_EQ(r.lines, std::vector<std::string>(json.begin(), json.begin() + 5));
  // Relative selection: from 10 s after the start (sample 10) to 5 s before the end (sample 24).
  r = run({"snapshot", "--replay", path, "--json", "--from", "+10s", "--to", "-5s"});
  EXPECT_EQ(r.lines, std::vector<std::string>(json.begin() + 10, json.begin() + 24));
}

// Every view of the live command works on a replay (the same stream and sinks).
TEST(ReplayCliTest, EveryViewWorksOnAReplay) {
  test::TempDir dir;
  const std::string path = dir.file("v.db");
  const auto samples = write_series(path, 6);
  for (const auto& [name, view] : {std::pair{"cpu", cli::TableView::kCpu}, std::pair{"io", cli::TableView::kIo},
                                   std::pair{"memory", cli::TableView::kMemory},
                                   std::pair{"nfs", cli::TableView::kNfs}}) {
    std::vector<std::string> expected;
    for (std::size_t i = 1; i < samples.size(); ++i) {
      std::string t =
          cli::render_table(model::derive(samples[i - 1], samples[i]), {.all = true, .top = 0, .view = view}) + "\n";
      for (std::size_t nl; (nl = t.find('\n')) != std::string::npos; t.erase(0, nl + 1))
        expected.push_back(t.substr(0, nl));
    }
    auto r = run({"snapshot", "--replay", path, "--all", "--top", "0", "--view", name});
    EXPECT_EQ(r.exit_code, 0) << name;
    EXPECT_EQ(r.lines, expected) << name;
  }
}

TEST(ReplayCliTest, BadFilesAndOptionsGiveClearErrors) {
  test::TempDir dir;
  const std::string path = dir.file("r.db");
  write_series(path, 5);
  {
    std::ofstream png(dir.file("x.png"), std::ios::binary);
    png << std::string("\x89PNG\r\n\x1a\n", 8) << std::string(200, 'x');
  }
  auto r = run({"snapshot", "--replay", dir.file("x.png")}, true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.text(), "recording " + dir.file("x.png") + " is not a cgscope recording");
  r = run({"snapshot", "--replay", dir.file("missing.db")}, true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.text(), "No such file or directory");
  r = run({"snapshot", "--replay", path, "--from", "yesterday"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "--from: invalid time 'yesterday'");
  r = run({"snapshot", "--replay", path, "--from", "-1s", "--to", "+1s"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "is after --to");
  r = run({"snapshot", "--replay", path, "--from", "@0", "--to", "@1"}, true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.text(), "no interval of recording " + path + " lies between");
  r = run({"snapshot", "--replay", path, "--interval", "2s"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "excludes");
  r = run({"snapshot", "--from", "+1s"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "requires --replay");

  r = run({"record", "-o", path, "--bpf", "off", "--duration", "1s"}, true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.text(), "already exists");
  r = run({"record", "-o", dir.file("new.db"), "--max-size", "10K"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "below the minimum of 1 MiB");
}

// What CLI11's parser rejects is a usage error like the ones cgscope finds itself: exit 2 (not
// CLI11's 105-109), with CLI11's message; --help and --version still exit 0.
TEST(ReplayCliTest, ParserErrorsExitTwoWithTheParsersMessage) {
  auto r = run({"snapshot", "--no-such-option"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "--no-such-option");
  r = run({"advise", "--min-severity", "bogus"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "--min-severity: bogus not in {info,warning,critical}");
  r = run({"diff", "a.db", "--top", "many"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "--top");
  r = run({}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "subcommand");
  r = run({"advise", "--help"}, true);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_CONTAINS(r.text(), "--min-severity");
  r = run({"--version"}, true);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_CONTAINS(r.text(), "cgscope ");
}

// diff ranks only cgroups present in --min-intervals (10) intervals or more of a range: one
// second at 90% throttled is noise, not the top change. 30 samples 1 s apart on each side:
//   web:       both sides, 100 -> 50 ms of every second throttled (10.0% -> 5.0%)
//   blip:      after only, samples 10-13 (3-4 intervals) at 900 ms/s: left out, counted
//   restarted: before whole at 200 ms/s (20.0%, first row); after a new id in samples 26-29 at
//              900 ms/s: kept for its before side, the after side shown as "few", no mark
TEST(ReplayCliTest, DiffLeavesOutCgroupsPresentTooBriefly) {
  test::TempDir dir;
  const std::string before = dir.file("before.db"), after = dir.file("after.db");
  write_lives(
      before, 30,
      {{100, "/system.slice/web.service", 100, 0, 29}, {300, "/system.slice/restarted.service", 200, 0, 29}});
  write_lives(after, 30,
              {{100, "/system.slice/web.service", 50, 0, 29},
               {200, "/system.slice/blip.service", 900, 10, 13},
               {301, "/system.slice/restarted.service", 900, 26, 29}});

  auto r = run({"diff", before, after});
  ASSERT_EQ(r.exit_code, 0) << r.text();
  std::size_t web = 0, restarted = 0;
  for (std::size_t i = 0; i < r.lines.size(); ++i) {
    if (r.lines[i].rfind("web.service", 0) == 0) web = i;
    if (r.lines[i].rfind("restarted.service", 0) == 0) restarted = i;
  }
  ASSERT_NE(web, 0u) << r.text();
  ASSERT_NE(restarted, 0u) << r.text();
  EXPECT_LT(restarted, web) << r.text();
  EXPECT_CONTAINS(r.lines[web], "10.0%->   5.0%v");
  EXPECT_CONTAINS(r.lines[restarted], "20.0%->    few ");
  EXPECT_LACKS(r.text(), "blip.service");
  EXPECT_CONTAINS(r.text(), "(few: present in fewer than 10 intervals of that range, too short to compare)");
  EXPECT_CONTAINS(r.text(),
                  "1 cgroup(s) that lost time were present in fewer than 10 intervals of each range they "
                  "appear in: left out (--min-intervals)");

  // With --min-intervals 1 every cgroup is compared, and the blip ranks first.
  r = run({"diff", before, after, "--min-intervals", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.text();
  EXPECT_LACKS(r.text(), "left out");
  EXPECT_LACKS(r.text(), "(few:");
  const auto table = std::find_if(r.lines.begin(), r.lines.end(),
                                  [](const std::string& l) { return l.rfind("CGROUP", 0) == 0; });
  ASSERT_NE(table, r.lines.end());
  ASSERT_NE(table + 1, r.lines.end());
  EXPECT_EQ(table[1].rfind("blip.service", 0), 0u) << r.text();

  r = run({"diff", before, after, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.text();
  const auto j = nlohmann::json::parse(r.text());
  EXPECT_EQ(j["min_intervals"], 10);
  EXPECT_EQ(j["cgroups_too_few_intervals"], 1);
  ASSERT_EQ(j["cgroups"].size(), 2u);
  EXPECT_EQ(j["cgroups"][0]["cgroup"], "/system.slice/restarted.service");
  EXPECT_EQ(j["cgroups"][0]["before"]["too_few_intervals"], false);
  EXPECT_EQ(j["cgroups"][0]["after"]["too_few_intervals"], true);
  EXPECT_LT(j["cgroups"][0]["after"]["intervals"].get<int>(), 10);
  EXPECT_EQ(j["cgroups"][1]["cgroup"], "/system.slice/web.service");
}
