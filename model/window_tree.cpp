// The cgroup tree of a window range (model/window.hpp): parents from the cgroup paths.
#include <algorithm>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "model/window.hpp"

namespace cgscope::model {
namespace {

struct Node {
  std::string path, name;
  std::size_t summary = CgroupTreeNode::kNone;
  std::uint64_t id = 0;  // of the summary, for ordering
  std::size_t parent = CgroupTreeNode::kNone;
  std::vector<std::size_t> children;
};

class TreeBuilder {
 public:
  TreeBuilder() { nodes_.push_back({"/", "/", CgroupTreeNode::kNone, 0, CgroupTreeNode::kNone, {}}); }

  // The node of a path, creating it and its missing ancestors.
  std::size_t node_for(std::string_view path) {
    std::size_t node = 0;
    std::string prefix;
    std::size_t pos = 0;
    while (pos < path.size()) {
      const std::size_t next = std::min(path.find('/', pos), path.size());
      if (next > pos) {
        const std::string_view component = path.substr(pos, next - pos);
        prefix += '/';
        prefix += component;
        auto [it, added] = by_path_.try_emplace(prefix, nodes_.size());
        if (added) add_child(node, {prefix, std::string(component)});
        node = it->second;
      }
      pos = next + 1;
    }
    return node;
  }

  std::size_t add_child(std::size_t parent, Node node) {
    node.parent = parent;
    nodes_.push_back(std::move(node));
    nodes_[parent].children.push_back(nodes_.size() - 1);
    return nodes_.size() - 1;
  }

  Node& operator[](std::size_t i) { return nodes_[i]; }

  // Pre-order, children by (name, id).
  std::vector<CgroupTreeNode> flatten() {
    for (auto& n : nodes_) {
      std::sort(n.children.begin(), n.children.end(), [&](std::size_t a, std::size_t b) {
        return std::tie(nodes_[a].name, nodes_[a].id) < std::tie(nodes_[b].name, nodes_[b].id);
      });
    }
    std::vector<CgroupTreeNode> out;
    out.reserve(nodes_.size());
    visit(0, CgroupTreeNode::kNone, 0, out);
    return out;
  }

 private:
  void visit(std::size_t i, std::size_t parent, std::uint32_t depth, std::vector<CgroupTreeNode>& out) {
    const std::size_t self = out.size();
    Node& n = nodes_[i];
    out.push_back({std::move(n.path), std::move(n.name), n.summary, parent, 0, depth, {}});
    for (std::size_t child : n.children) {
      out[self].children.push_back(out.size());
      visit(child, self, depth + 1, out);
    }
    out[self].subtree_end = out.size();
  }

  std::vector<Node> nodes_;
  std::unordered_map<std::string, std::size_t> by_path_;
};

}  // namespace

CgroupTree build_cgroup_tree(std::vector<CgroupSummary> cgroups) {
  CgroupTree tree;
  tree.cgroups = std::move(cgroups);
  // Owners first: by path, then the one seen last, then by id.
  std::vector<std::size_t> order(tree.cgroups.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const CgroupSummary& x = tree.cgroups[a];
    const CgroupSummary& y = tree.cgroups[b];
    if (x.identity->path != y.identity->path) return x.identity->path < y.identity->path;
    if (x.last_index != y.last_index) return x.last_index > y.last_index;
    return x.id < y.id;
  });

  TreeBuilder builder;
  for (std::size_t i : order) {
    const CgroupSummary& cg = tree.cgroups[i];
    const std::string& path = cg.identity->path;
    if (path.empty()) {  // known by id only, or the kernel bucket
      builder.add_child(0, {"", cg.identity->display_name(), i, cg.id, CgroupTreeNode::kNone, {}});
      continue;
    }
    const std::size_t node = builder.node_for(path);
    if (builder[node].summary == CgroupTreeNode::kNone) {
      builder[node].summary = i;
      builder[node].id = cg.id;
      continue;
    }
    // The path is taken by a cgroup seen later: this one is a leaf beside it.
    const std::size_t parent = node == 0 ? 0 : builder[node].parent;
    builder.add_child(parent, {builder[node].path, builder[node].name, i, cg.id, CgroupTreeNode::kNone, {}});
  }
  tree.nodes = builder.flatten();
  return tree;
}

}  // namespace cgscope::model
