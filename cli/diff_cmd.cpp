// `cgscope diff BEFORE [AFTER]`: per cgroup, lost time by cause and latency percentiles before
// and after, and the findings that appeared, went away or stayed.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

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
  std::unordered_map<std::uint64_t, std::uint32_t> intervals;  // cgroup id -> intervals present in the range
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
  options.dirtyable_memory_bytes = dirtyable_memory_from_meta(info.meta);
  side.analysis = analyzers::analyze(side.window, side.window.all(), options);
  for (const auto& cg : side.window.cgroups(side.analysis.range)) side.intervals[cg.id] = cg.intervals;
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

double frac(const analyzers::CgroupBudget* b, Cause c) {
  if (!b || b->wall_seconds <= 0) return 0;
  return b->lost[static_cast<std::size_t>(c)] / b->wall_seconds;
}

// A cgroup across the two sides. A side where it was present in fewer than --min-intervals
// intervals is too short to compare: its shares are noise (one second at 90% throttled), so
// it neither ranks the row nor gets a change mark.
struct Row {
  std::string key, name;
  const analyzers::CgroupBudget* before = nullptr;
  const analyzers::CgroupBudget* after = nullptr;
  bool before_short = false, after_short = false;
  double rank = 0;  // the larger share of lost time of the sides long enough to compare
};

struct Ranking {
  std::vector<Row> rows;     // most lost time first
  std::size_t left_out = 0;  // cgroups with lost time too short on every side they appear on
};

// The cgroups of either side with lost time, by the larger share, without those too short on
// every side they appear on (counted instead).
Ranking rank_cgroups(const Side& before, const Side& after, std::uint32_t min_intervals) {
  std::map<std::string, Row> rows;
  auto add = [&](const Side& side, const analyzers::CgroupBudget& b, bool is_before) {
    const std::string key = match_key(b.identity);
    Row& r = rows[key];
    r.key = key;
    r.name = b.identity.display_name();
    const auto n = side.intervals.find(b.cgroup_id);
    const bool too_short = n == side.intervals.end() || n->second < min_intervals;
    (is_before ? r.before : r.after) = &b;
    (is_before ? r.before_short : r.after_short) = too_short;
    if (!too_short) r.rank = std::max(r.rank, b.total() / std::max(b.wall_seconds, 1e-9));
  };
  for (const auto& b : before.analysis.budgets) add(before, b, true);
  for (const auto& b : after.analysis.budgets) add(after, b, false);
  Ranking out;
  for (auto& [key, r] : rows) {
    const bool comparable = (r.before && !r.before_short) || (r.after && !r.after_short);
    if (comparable)
      out.rows.push_back(std::move(r));
    else
      ++out.left_out;
  }
  std::stable_sort(out.rows.begin(), out.rows.end(),
                   [](const Row& a, const Row& b) { return a.rank > b.rank; });
  return out;
}

constexpr std::string_view kShortCell = "few";
std::string pct(const analyzers::CgroupBudget* b, bool too_short, Cause c) {
  if (!b || !b->measured[static_cast<std::size_t>(c)]) return "-";
  return too_short ? std::string(kShortCell) : budget_cell(*b, c);
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
  sub->add_option(
      "--min-intervals", c->min_intervals_,
      "a cgroup present in fewer intervals of a range is not ranked or compared there, and gets no "
      "advice (default 10, as advise)");
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

  const Ranking ranking = rank_cgroups(before, after, min_intervals_);
  const std::vector<Row>& ordered = ranking.rows;

  std::map<std::string, const analyzers::Finding*> fb, fa;
  for (const auto& f : before.analysis.findings) fb.emplace(f.key, &f);
  for (const auto& f : after.analysis.findings) fa.emplace(f.key, &f);

  auto id_on = [](const Side&, const analyzers::CgroupBudget* b) -> std::uint64_t { return b ? b->cgroup_id : 0; };

  if (json_) {
    nlohmann::json cgroups = nlohmann::json::array();
    for (const auto& r : ordered) {
      nlohmann::json j = {{"cgroup", r.key}, {"name", r.name}};
      for (auto [label, side, b, too_short] : {std::tuple{"before", &before, r.before, r.before_short},
                                               std::tuple{"after", &after, r.after, r.after_short}}) {
        if (!b) {
          j[label] = nullptr;
          continue;
        }
        nlohmann::json s = analyzers::to_json(*b);
        s["intervals"] = side->intervals.count(b->cgroup_id) ? side->intervals.at(b->cgroup_id) : 0;
        s["too_few_intervals"] = too_short;
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
                          {"min_intervals", min_intervals_},
                          {"cgroups", cgroups},
                          {"cgroups_too_few_intervals", ranking.left_out},
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
  bool shown_short = false;
  for (std::size_t i = 0; i < ordered.size() && i < top_; ++i) {
    const Row& r = ordered[i];
    const bool compared = !r.before_short && !r.after_short;
    shown_short = shown_short || !compared;
    std::string name = r.name.size() > 36 ? r.name.substr(0, 17) + ".." + r.name.substr(r.name.size() - 17) : r.name;
    out += fmt::format("{:<36}", name);
    for (std::size_t c = 0; c < analyzers::kCauseCount; ++c) {
      const Cause cause = static_cast<Cause>(c);
      const double delta = frac(r.after, cause) - frac(r.before, cause);
      const char* mark = !compared || std::abs(delta) < 0.01 ? " " : delta < 0 ? "v" : "^";
      out += fmt::format(" {:>7}->{:>7}{}", pct(r.before, r.before_short, cause),
                         pct(r.after, r.after_short, cause), mark);
    }
    auto p99 = [](const Side& side, const analyzers::CgroupBudget* b, bool too_short) -> std::string {
      const Percentiles p = b ? percentiles(side.window, b->cgroup_id) : Percentiles{};
      if (!p.rq) return "-";
      return too_short ? std::string(kShortCell) : fmt::format("{:.2f}", p.rq_p99);
    };
    out += fmt::format(" {:>10}->{:>9}\n", p99(before, r.before, r.before_short),
                       p99(after, r.after, r.after_short));
  }
  out += "(v: less lost time after, ^: more; differences under 1% of the time unmarked)\n";
  if (shown_short)
    out += fmt::format("({}: present in fewer than {} intervals of that range, too short to compare)\n",
                       kShortCell, min_intervals_);
  if (ranking.left_out)
    out += fmt::format(
        "{} cgroup(s) that lost time were present in fewer than {} intervals of each range they "
        "appear in: left out (--min-intervals)\n",
        ranking.left_out, min_intervals_);
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
