// `cgscope diff BEFORE [AFTER]`: per cgroup, lost time by cause and latency percentiles before
// and after, and the findings that appeared, went away or stayed.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <set>

#include "analyzers/json.hpp"
#include "cli/advice_view.hpp"
#include "cli/advise_cmd.hpp"
#include "cli/host_facts.hpp"
#include "cli/record_options.hpp"
#include "model/json.hpp"
#include "model/recording/reader.hpp"
#include "model/window.hpp"

namespace cgscope::cli {
namespace {

using analyzers::Cause;

struct Side {
  model::Window window{{.max_intervals = std::size_t{1} << 24}};
  analyzers::Analysis analysis;
  std::string label;
};

// Loads one side: a recording, or a range of it.
Result<bool> load(const std::string& file, const std::string& from, const std::string& to,
                  std::uint32_t min_intervals, Side& side) {
  namespace rec = model::recording;
  auto whole = rec::RecordingSource::open(file);
  if (!whole) return Error{whole.error()};
  const rec::RecordingInfo info = (*whole)->info();
  whole->reset();
  rec::Selection sel;
  if (!from.empty()) {
    auto t = parse_time(from, info.first_realtime_ns, info.last_realtime_ns);
    if (!t) return Error{"from: " + t.error()};
    sel.from_realtime_ns = *t;
  }
  if (!to.empty()) {
    auto t = parse_time(to, info.first_realtime_ns, info.last_realtime_ns);
    if (!t) return Error{"to: " + t.error()};
    sel.to_realtime_ns = *t;
  }
  auto src = rec::RecordingSource::open(file, sel);
  if (!src) return Error{src.error()};
  model::SnapshotSink* sinks[] = {&side.window};
  auto stats = model::run_stream(**src, sinks, {});
  if (!stats) return Error{stats.error()};
  if (stats->intervals == 0) return Error{fmt::format("no interval of {} in the selected range", file)};
  analyzers::AnalysisOptions options;
  options.min_intervals = min_intervals;
  options.min_seconds = 0;
  options.layout = layout_from_meta(info.meta);
  options.sysctls = sysctls_from_meta(info.meta);
  side.analysis = analyzers::analyze(side.window, side.window.all(), options);
  side.label = fmt::format("{} {} to {}", file, format_time(side.analysis.start_realtime_ns),
                           format_time(side.analysis.end_realtime_ns));
  return true;
}

// A cgroup across the two sides: by path (a container recreated between the two keeps its
// path, not its id), else by id.
std::string match_key(const model::CgroupIdentity& id) {
  return id.path.empty() ? fmt::format("#{}", id.id) : id.path;
}

struct Percentiles {
  double rq_p50 = 0, rq_p99 = 0, io_p99 = 0;
  bool rq = false, io = false;
};
Percentiles percentiles(const model::Window& w, std::uint64_t id) {
  Percentiles p;
  const auto rq = w.histogram(id, model::HistogramSeries::kRunDelay, w.all());
  const auto io = w.histogram(id, model::HistogramSeries::kIoLatency, w.all());
  p.rq = !rq.empty();
  p.io = !io.empty();
  p.rq_p50 = static_cast<double>(rq.percentile(0.5)) / 1e6;
  p.rq_p99 = static_cast<double>(rq.percentile(0.99)) / 1e6;
  p.io_p99 = static_cast<double>(io.percentile(0.99)) / 1e6;
  return p;
}

std::string pct(const analyzers::CgroupBudget* b, Cause c) { return b ? budget_cell(*b, c) : "-"; }
double frac(const analyzers::CgroupBudget* b, Cause c) {
  if (!b || b->wall_seconds <= 0) return 0;
  return b->lost[static_cast<std::size_t>(c)] / b->wall_seconds;
}

}  // namespace

std::unique_ptr<DiffCommand> DiffCommand::add_to(CLI::App& app) {
  auto c = std::make_unique<DiffCommand>();
  auto* sub = app.add_subcommand("diff",
                                 "compare two recordings (or two time ranges of one): lost time by cause, "
                                 "percentiles and findings before and after a change");
  c->sub_ = sub;
  sub->add_option("BEFORE", c->before_, "recording before the change")->required();
  sub->add_option("AFTER", c->after_, "recording after the change (default: BEFORE, with --after-from/--after-to)");
  sub->add_option("--before-from", c->before_from_, "start of the before range (forms of snapshot --from)");
  sub->add_option("--before-to", c->before_to_, "end of the before range");
  sub->add_option("--after-from", c->after_from_, "start of the after range");
  sub->add_option("--after-to", c->after_to_, "end of the after range");
  sub->add_flag("--json", c->json_, "one JSON object: both analyses, per-cgroup changes, findings");
  sub->add_option("--min-intervals", c->min_intervals_, "no advice for a cgroup present in fewer intervals");
  sub->add_option("--top", c->top_, "cgroups in the table (most lost time on either side first)");
  return c;
}

bool DiffCommand::parsed() const { return sub_ && sub_->parsed(); }

int DiffCommand::run() const {
  const std::string after_file = after_.empty() ? before_ : after_;
  if (after_.empty() && before_from_.empty() && before_to_.empty() && after_from_.empty() && after_to_.empty()) {
    fmt::print(stderr, "cgscope: diff: give two recordings, or one with --before-to and --after-from ranges\n");
    return 2;
  }
  Side before, after;
  if (auto r = load(before_, before_from_, before_to_, min_intervals_, before); !r) {
    fmt::print(stderr, "cgscope: diff: before: {}\n", r.error());
    return 1;
  }
  if (auto r = load(after_file, after_from_, after_to_, min_intervals_, after); !r) {
    fmt::print(stderr, "cgscope: diff: after: {}\n", r.error());
    return 1;
  }

  // Cgroups of either side with lost time, by the larger total.
  struct Row {
    std::string key, name;
    const analyzers::CgroupBudget* before = nullptr;
    const analyzers::CgroupBudget* after = nullptr;
    double rank = 0;
  };
  std::map<std::string, Row> rows;
  for (const auto& b : before.analysis.budgets) {
    Row& r = rows[match_key(b.identity)];
    r.key = match_key(b.identity);
    r.name = b.identity.display_name();
    r.before = &b;
    r.rank = std::max(r.rank, b.total() / std::max(b.wall_seconds, 1e-9));
  }
  for (const auto& b : after.analysis.budgets) {
    Row& r = rows[match_key(b.identity)];
    r.key = match_key(b.identity);
    r.name = b.identity.display_name();
    r.after = &b;
    r.rank = std::max(r.rank, b.total() / std::max(b.wall_seconds, 1e-9));
  }
  std::vector<Row> ordered;
  for (auto& [k, r] : rows) ordered.push_back(r);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Row& a, const Row& b) { return a.rank > b.rank; });

  std::map<std::string, const analyzers::Finding*> fb, fa;
  for (const auto& f : before.analysis.findings) fb.emplace(f.key, &f);
  for (const auto& f : after.analysis.findings) fa.emplace(f.key, &f);

  auto id_on = [](const Side&, const analyzers::CgroupBudget* b) -> std::uint64_t { return b ? b->cgroup_id : 0; };

  if (json_) {
    nlohmann::json cgroups = nlohmann::json::array();
    for (const auto& r : ordered) {
      nlohmann::json j = {{"cgroup", r.key}, {"name", r.name}};
      for (auto [label, side, b] : {std::tuple{"before", &before, r.before}, std::tuple{"after", &after, r.after}}) {
        if (!b) {
          j[label] = nullptr;
          continue;
        }
        nlohmann::json s = analyzers::to_json(*b);
        const Percentiles p = percentiles(side->window, id_on(*side, b));
        if (p.rq) s["run_delay_p50_seconds"] = p.rq_p50 / 1e3, s["run_delay_p99_seconds"] = p.rq_p99 / 1e3;
        if (p.io) s["io_latency_p99_seconds"] = p.io_p99 / 1e3;
        j[label] = s;
      }
      cgroups.push_back(j);
    }
    nlohmann::json appeared = nlohmann::json::array(), gone = nlohmann::json::array(), kept = nlohmann::json::array();
    for (const auto& [k, f] : fa) (fb.count(k) ? kept : appeared).push_back(analyzers::to_json(*f));
    for (const auto& [k, f] : fb)
      if (!fa.count(k)) gone.push_back(analyzers::to_json(*f));
    nlohmann::json out = {{"schema_version", analyzers::kAdviceSchemaVersion},
                          {"before", analyzers::to_json(before.analysis)},
                          {"after", analyzers::to_json(after.analysis)},
                          {"cgroups", cgroups},
                          {"findings", {{"appeared", appeared}, {"gone", gone}, {"persisting", kept}}}};
    fmt::print("{}\n", out.dump(2));
    return 0;
  }

  std::string out = fmt::format("cgscope diff\n  before: {} ({:.0f} s, {} findings)\n  after:  {} ({:.0f} s, {} findings)\n",
                                before.label, before.analysis.seconds, before.analysis.findings.size(), after.label,
                                after.analysis.seconds, after.analysis.findings.size());
  out += "\nLOST TIME, share of each cgroup's time: before -> after\n";
  out += fmt::format("{:<36}", "CGROUP");
  for (std::size_t c = 0; c < analyzers::kCauseCount; ++c) out += fmt::format(" {:>17}", label(static_cast<Cause>(c)));
  out += fmt::format(" {:>21}\n", "RQ p99 ms");
  for (std::size_t i = 0; i < ordered.size() && i < top_; ++i) {
    const Row& r = ordered[i];
    std::string name = r.name.size() > 36 ? r.name.substr(0, 17) + ".." + r.name.substr(r.name.size() - 17) : r.name;
    out += fmt::format("{:<36}", name);
    for (std::size_t c = 0; c < analyzers::kCauseCount; ++c) {
      const Cause cause = static_cast<Cause>(c);
      const double delta = frac(r.after, cause) - frac(r.before, cause);
      const char* mark = std::abs(delta) < 0.01 ? " " : delta < 0 ? "v" : "^";
      out += fmt::format(" {:>7}->{:>7}{}", pct(r.before, cause), pct(r.after, cause), mark);
    }
    const Percentiles pb = r.before ? percentiles(before.window, r.before->cgroup_id) : Percentiles{};
    const Percentiles pa = r.after ? percentiles(after.window, r.after->cgroup_id) : Percentiles{};
    out += fmt::format(" {:>10}->{:>9}\n", pb.rq ? fmt::format("{:.2f}", pb.rq_p99) : "-",
                       pa.rq ? fmt::format("{:.2f}", pa.rq_p99) : "-");
  }
  out += "(v: less lost time after, ^: more; differences under 1% of the time unmarked)\n";
  auto list = [&](const char* title, const std::map<std::string, const analyzers::Finding*>& from,
                  const std::map<std::string, const analyzers::Finding*>& other, bool present) {
    std::string s;
    for (const auto& [k, f] : from)
      if (static_cast<bool>(other.count(k)) == present)
        s += fmt::format("  [{}] {}: {}\n", to_string(f->severity), f->rule, f->title);
    out += fmt::format("\n{}:\n{}", title, s.empty() ? "  none\n" : s);
  };
  list("Findings gone after", fb, fa, false);
  list("Findings that appeared after", fa, fb, false);
  list("Findings in both (as after)", fa, fb, true);
  fmt::print("{}", out);
  return 0;
}

}  // namespace cgscope::cli
