// The cgscope binary on recordings, without root: `snapshot --replay` prints exactly what the
// samples derive to, and bad files and options give clear errors and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "cli/format.hpp"
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
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.text(), "excludes");
  r = run({"snapshot", "--from", "+1s"}, true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.text(), "requires --replay");

  r = run({"record", "-o", path, "--bpf", "off", "--duration", "1s"}, true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.text(), "already exists");
  r = run({"record", "-o", dir.file("new.db"), "--max-size", "10K"}, true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.text(), "below the minimum of 1 MiB");
}
