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

namespace {

nlohmann::json range_json(const Analysis& a) {
  return {{"first_interval", a.range.begin},
          {"intervals", a.range.size()},
          {"seconds", a.seconds},
          {"start_realtime_ns", a.start_realtime_ns},
          {"end_realtime_ns", a.end_realtime_ns}};
}

}  // namespace

nlohmann::json to_json(const Analysis& a) {
  nlohmann::json budgets = nlohmann::json::array(), findings = nlohmann::json::array();
  for (const auto& b : a.budgets) budgets.push_back(to_json(b));
  for (const auto& f : a.findings) findings.push_back(to_json(f));
  return {{"schema_version", kAdviceSchemaVersion},
          {"range", range_json(a)},
          {"cgroups", a.cgroups},
          {"too_little_data", a.too_little_data},
          {"budgets", budgets},
          {"findings", findings},
          {"notes", a.notes}};
}

void write_json(const Analysis& a, std::FILE* out) {
  // dump(2) of a value that sits `depth` levels deep: its inner lines indented by 2 * depth
  // more (JSON strings never hold a raw newline).
  auto put = [out](const nlohmann::json& value, int depth) {
    const std::string text = value.dump(2);
    const std::string pad(static_cast<std::size_t>(2 * depth), ' ');
    std::size_t from = 0;
    for (std::size_t nl; (nl = text.find('\n', from)) != std::string::npos; from = nl + 1) {
      std::fwrite(text.data() + from, 1, nl + 1 - from, out);
      std::fputs(pad.c_str(), out);
    }
    std::fwrite(text.data() + from, 1, text.size() - from, out);
  };
  auto array = [&](const char* key, const auto& items, bool last) {
    std::fprintf(out, "  \"%s\": [", key);
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::fputs(i ? ",\n    " : "\n    ", out);
      put(to_json(items[i]), 2);
    }
    std::fputs(items.empty() ? "]" : "\n  ]", out);
    std::fputs(last ? "\n" : ",\n", out);
  };
  auto member = [&](const char* key, const nlohmann::json& value, bool last) {
    std::fprintf(out, "  \"%s\": ", key);
    put(value, 1);
    std::fputs(last ? "\n" : ",\n", out);
  };
  // The keys in the order of nlohmann::json's objects (sorted).
  std::fputs("{\n", out);
  array("budgets", a.budgets, false);
  member("cgroups", a.cgroups, false);
  array("findings", a.findings, false);
  member("notes", a.notes, false);
  member("range", range_json(a), false);
  member("schema_version", kAdviceSchemaVersion, false);
  member("too_little_data", a.too_little_data, true);
  std::fputs("}\n", out);
}

}  // namespace cgscope::analyzers
