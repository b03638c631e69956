#include "analyzers/json.hpp"

#include "model/json.hpp"

namespace cgscope::analyzers {

nlohmann::json to_json(const Command& c) {
  nlohmann::json j = {{"manager", to_string(c.manager)}, {"preferred", c.preferred}, {"command", c.text}};
  if (!c.note.empty()) j["note"] = c.note;
  return j;
}

nlohmann::json to_json(const Recommendation& r) {
  nlohmann::json commands = nlohmann::json::array();
  for (const auto& c : r.commands) commands.push_back(to_json(c));
  return {{"knob", r.knob},         {"target", r.target}, {"current", r.current},
          {"suggested", r.suggested}, {"derivation", r.derivation}, {"effect", r.effect},
          {"risk", r.risk},           {"commands", commands}};
}

nlohmann::json to_json(const Finding& f) {
  nlohmann::json evidence = nlohmann::json::object();
  for (const auto& e : f.evidence) evidence[e.name] = {{"value", e.value}, {"text", e.text}};
  nlohmann::json recs = nlohmann::json::array();
  for (const auto& r : f.recommendations) recs.push_back(to_json(r));
  nlohmann::json j = {{"rule", f.rule},
                      {"key", f.key},
                      {"severity", to_string(f.severity)},
                      {"confidence", to_string(f.confidence)},
                      {"confidence_basis", f.confidence_basis},
                      {"cgroup_id", f.cgroup_id},
                      {"cgroup", f.cgroup_id || !f.identity.path.empty() ? model::to_json(f.identity) : nlohmann::json()},
                      {"title", f.title},
                      {"summary", f.summary},
                      {"evidence", evidence},
                      {"cause", f.cause},
                      {"explains", to_string(f.explains)},
                      {"lost_seconds", f.lost_seconds},
                      {"lost_fraction", f.lost_fraction},
                      {"related_cgroup_ids", f.related},
                      {"recommendations", recs},
                      {"first_seen_realtime_ns", f.first_realtime_ns},
                      {"last_seen_realtime_ns", f.last_realtime_ns},
                      {"intervals", f.intervals}};
  return j;
}

nlohmann::json to_json(const CgroupBudget& b) {
  nlohmann::json lost = nlohmann::json::object();
  for (std::size_t c = 0; c < kCauseCount; ++c)
    lost[std::string(to_string(static_cast<Cause>(c))) + "_seconds"] =
        b.measured[c] ? nlohmann::json(b.lost[c]) : nlohmann::json();
  if (b.run_delay_unsplit > 0) lost["run_delay_unsplit_seconds"] = b.run_delay_unsplit;
  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& n : b.neighbours)
    neighbours.push_back({{"cgroup_id", n.cgroup_id},
                          {"name", n.identity.path.empty() ? "cgroup#" + std::to_string(n.cgroup_id) : n.identity.display_name()},
                          {"seconds", n.seconds}});
  return {{"cgroup", model::to_json(b.identity)}, {"wall_seconds", b.wall_seconds}, {"cpu_seconds", b.cpu_seconds},
          {"lost", lost},                          {"lost_total_seconds", b.total()}, {"neighbours", neighbours}};
}

nlohmann::json to_json(const Analysis& a) {
  nlohmann::json budgets = nlohmann::json::array(), findings = nlohmann::json::array();
  for (const auto& b : a.budgets) budgets.push_back(to_json(b));
  for (const auto& f : a.findings) findings.push_back(to_json(f));
  return {{"schema_version", kAdviceSchemaVersion},
          {"range",
           {{"first_interval", a.range.begin},
            {"intervals", a.range.size()},
            {"seconds", a.seconds},
            {"start_realtime_ns", a.start_realtime_ns},
            {"end_realtime_ns", a.end_realtime_ns}}},
          {"cgroups", a.cgroups},
          {"too_little_data", a.too_little_data},
          {"budgets", budgets},
          {"findings", findings},
          {"notes", a.notes}};
}

}  // namespace cgscope::analyzers
