#include "collector/profile/symbolize/unwind.hpp"

#include <dwarf.h>

#include <array>
#include <cstring>

namespace cgscope::collector {
namespace {

struct Registers {
  std::array<std::uint64_t, kUnwindRegs> value{};
  std::uint32_t known = 0;  // bit per register
  bool has(int r) const { return r >= 0 && r < kUnwindRegs && (known >> r & 1); }
  void set(int r, std::uint64_t v) {
    value[r] = v;
    known |= 1u << r;
  }
  void forget(int r) { known &= ~(1u << r); }
};

// The copied top of the stack: [base, base + size).
struct StackCopy {
  const std::uint8_t* data;
  std::uint64_t base;
  std::size_t size;
};

enum class Read { kOk, kAboveCopy, kOutside };

Read read_u64(const StackCopy& m, std::uint64_t addr, std::uint64_t* out) {
  if (addr < m.base) return Read::kOutside;  // below the stack pointer: not stack we copied
  if (addr - m.base > m.size || m.size - (addr - m.base) < 8) return Read::kAboveCopy;
  std::memcpy(out, m.data + (addr - m.base), 8);
  return Read::kOk;
}

// Evaluates a CFI expression; on failure `why` says why.
std::optional<std::uint64_t> evaluate(const DwarfExpr& expr, const Registers& regs, std::optional<std::uint64_t> cfa,
                                      const StackCopy& mem, UnwindStop* why) {
  std::uint64_t stack[16];
  std::size_t n = 0;
  auto fail = [&](UnwindStop w) -> std::optional<std::uint64_t> {
    *why = w;
    return std::nullopt;
  };
  auto push = [&](std::uint64_t v) {
    if (n == std::size(stack)) return false;
    stack[n++] = v;
    return true;
  };
  for (const DwarfOp& op : expr) {
    const std::uint8_t a = op.atom;
    bool ok = true;
    if (a >= DW_OP_lit0 && a <= DW_OP_lit31) {
      ok = push(a - DW_OP_lit0);
    } else if ((a >= DW_OP_breg0 && a <= DW_OP_breg31) || a == DW_OP_bregx) {
      const int reg = a == DW_OP_bregx ? static_cast<int>(op.number) : a - DW_OP_breg0;
      const std::uint64_t offset = a == DW_OP_bregx ? op.number2 : op.number;
      if (!regs.has(reg)) return fail(UnwindStop::kBadRules);
      ok = push(regs.value[reg] + offset);
    } else if ((a >= DW_OP_reg0 && a <= DW_OP_reg31) || a == DW_OP_regx) {
      const int reg = a == DW_OP_regx ? static_cast<int>(op.number) : a - DW_OP_reg0;
      if (!regs.has(reg)) return fail(UnwindStop::kBadRules);
      ok = push(regs.value[reg]);
    } else {
      switch (a) {
        case DW_OP_const1u:
        case DW_OP_const1s:
        case DW_OP_const2u:
        case DW_OP_const2s:
        case DW_OP_const4u:
        case DW_OP_const4s:
        case DW_OP_const8u:
        case DW_OP_const8s:
        case DW_OP_constu:
        case DW_OP_consts:
          ok = push(op.number);
          break;
        case DW_OP_call_frame_cfa:
          if (!cfa) return fail(UnwindStop::kBadRules);
          ok = push(*cfa);
          break;
        case DW_OP_plus_uconst:
          if (n < 1) return fail(UnwindStop::kBadRules);
          stack[n - 1] += op.number;
          break;
        case DW_OP_dup:
          if (n < 1) return fail(UnwindStop::kBadRules);
          ok = push(stack[n - 1]);
          break;
        case DW_OP_over:
          if (n < 2) return fail(UnwindStop::kBadRules);
          ok = push(stack[n - 2]);
          break;
        case DW_OP_drop:
          if (n < 1) return fail(UnwindStop::kBadRules);
          --n;
          break;
        case DW_OP_swap:
          if (n < 2) return fail(UnwindStop::kBadRules);
          std::swap(stack[n - 1], stack[n - 2]);
          break;
        case DW_OP_neg:
        case DW_OP_not:
          if (n < 1) return fail(UnwindStop::kBadRules);
          stack[n - 1] = a == DW_OP_neg ? 0 - stack[n - 1] : ~stack[n - 1];
          break;
        case DW_OP_deref: {
          if (n < 1) return fail(UnwindStop::kBadRules);
          std::uint64_t v = 0;
          const Read r = read_u64(mem, stack[n - 1], &v);
          if (r != Read::kOk) return fail(r == Read::kAboveCopy ? UnwindStop::kEndOfCopy : UnwindStop::kBadRules);
          stack[n - 1] = v;
          break;
        }
        case DW_OP_plus:
        case DW_OP_minus:
        case DW_OP_mul:
        case DW_OP_and:
        case DW_OP_or:
        case DW_OP_xor:
        case DW_OP_shl:
        case DW_OP_shr:
        case DW_OP_shra:
        case DW_OP_ge:
        case DW_OP_gt:
        case DW_OP_le:
        case DW_OP_lt:
        case DW_OP_eq:
        case DW_OP_ne: {
          if (n < 2) return fail(UnwindStop::kBadRules);
          const std::uint64_t b = stack[--n], x = stack[n - 1];
          const auto sx = static_cast<std::int64_t>(x), sb = static_cast<std::int64_t>(b);
          std::uint64_t r = 0;
          switch (a) {
            case DW_OP_plus: r = x + b; break;
            case DW_OP_minus: r = x - b; break;
            case DW_OP_mul: r = x * b; break;
            case DW_OP_and: r = x & b; break;
            case DW_OP_or: r = x | b; break;
            case DW_OP_xor: r = x ^ b; break;
            case DW_OP_shl: r = b >= 64 ? 0 : x << b; break;
            case DW_OP_shr: r = b >= 64 ? 0 : x >> b; break;
            case DW_OP_shra: r = static_cast<std::uint64_t>(sx >> (b >= 64 ? 63 : b)); break;
            case DW_OP_ge: r = sx >= sb; break;
            case DW_OP_gt: r = sx > sb; break;
            case DW_OP_le: r = sx <= sb; break;
            case DW_OP_lt: r = sx < sb; break;
            case DW_OP_eq: r = x == b; break;
            default: r = x != b; break;
          }
          stack[n - 1] = r;
          break;
        }
        case DW_OP_nop:
        case DW_OP_stack_value:  // the caller already knows value from location
          break;
        default:
          return fail(UnwindStop::kBadRules);  // not seen in CFI; never guessed
      }
    }
    if (!ok) return fail(UnwindStop::kBadRules);
  }
  if (n < 1) return fail(UnwindStop::kBadRules);
  return stack[n - 1];
}

// The caller's value of one register under `rule`; nullopt when unknown (with why).
std::optional<std::uint64_t> caller_value(const RegisterRule& rule, int reg, const Registers& regs,
                                          std::uint64_t cfa, const StackCopy& mem, UnwindStop* why) {
  switch (rule.kind) {
    case RegisterRule::kUndefined:
      *why = UnwindStop::kOutermost;
      return std::nullopt;
    case RegisterRule::kSameValue:
      if (!regs.has(reg)) {
        *why = UnwindStop::kBadRules;
        return std::nullopt;
      }
      return regs.value[reg];
    case RegisterRule::kValue:
      return evaluate(rule.expr, regs, cfa, mem, why);
    case RegisterRule::kAt: {
      auto addr = evaluate(rule.expr, regs, cfa, mem, why);
      if (!addr) return std::nullopt;
      std::uint64_t v = 0;
      const Read r = read_u64(mem, *addr, &v);
      if (r == Read::kOk) return v;
      *why = r == Read::kAboveCopy ? UnwindStop::kEndOfCopy : UnwindStop::kBadRules;
      return std::nullopt;
    }
  }
  *why = UnwindStop::kBadRules;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(UnwindStop stop) {
  switch (stop) {
    case UnwindStop::kOutermost:
      return "outermost frame";
    case UnwindStop::kEndOfCopy:
      return "end of the copied stack";
    case UnwindStop::kNoUnwindInfo:
      return "no CFI and no frame pointer";
    case UnwindStop::kUnmapped:
      return "address outside any executable mapping";
    case UnwindStop::kBadRules:
      return "CFI could not be evaluated";
    case UnwindStop::kNoProgress:
      return "stack pointer did not move";
    case UnwindStop::kDepthLimit:
      return "depth limit";
    case UnwindStop::kCount:
      break;
  }
  return "?";
}

UnwindOutcome unwind_stack(const StackSample& sample, const CodeLookup& code, std::size_t max_depth) {
  UnwindOutcome out;
  Registers regs;
  for (int r = 0; r < kUnwindRegs; ++r) regs.set(r, sample.regs[r]);
  const StackCopy mem{sample.stack, sample.regs[kDwarfRsp], sample.stack_bytes};
  bool used_fp = false;
  auto stop = [&](UnwindStop why, std::uint64_t ip) {
    out.stop = why;
    out.stop_ip = ip;
  };

  for (;;) {
    const std::uint64_t ip = regs.value[kDwarfRip];
    const bool leaf = out.ips.empty();
    const CodeAt at = code(leaf ? ip : ip - 1);
    if (!at.mapped) {
      // The leaf's IP is real (it was sampled); a return address outside all code is not.
      if (leaf) out.ips.push_back(ip);
      stop(UnwindStop::kUnmapped, ip);
      break;
    }
    out.ips.push_back(ip);
    if (out.ips.size() >= max_depth) {
      stop(UnwindStop::kDepthLimit, ip);
      break;
    }
    const std::uint64_t sp = regs.value[kDwarfRsp];
    Registers caller;
    std::uint64_t cfa = 0, return_address = 0;
    if (at.rules) {
      const FrameRules& rules = *at.rules;
      UnwindStop why = UnwindStop::kBadRules;
      auto c = evaluate(rules.cfa, regs, std::nullopt, mem, &why);
      if (!c) {
        stop(why, ip);
        break;
      }
      cfa = *c;
      if (cfa <= sp) {  // checked before the rules read below the CFA (outside the copy)
        stop(UnwindStop::kNoProgress, ip);
        break;
      }
      auto ra = caller_value(rules.return_address, kDwarfRip, regs, cfa, mem, &why);
      if (!ra) {
        stop(why, ip);  // kOutermost when CFI marks the return address undefined
        break;
      }
      return_address = *ra;
      const std::pair<int, const RegisterRule*> saved[] = {{kDwarfRbx, &rules.rbx}, {kDwarfRbp, &rules.rbp},
                                                           {12, &rules.r12},        {13, &rules.r13},
                                                           {14, &rules.r14},        {15, &rules.r15}};
      for (const auto& [reg, rule] : saved) {
        UnwindStop ignored;
        // A callee-saved register that cannot be recovered only matters if a caller's rule
        // uses it; then that step fails, and says so.
        if (auto v = caller_value(*rule, reg, regs, cfa, mem, &ignored)) caller.set(reg, *v);
      }
    } else {
      // No CFI (JIT code, a binary without .eh_frame): follow the frame pointer, if any.
      std::uint64_t saved_rbp = 0;
      const std::uint64_t rbp = regs.value[kDwarfRbp];
      if (!regs.has(kDwarfRbp) || rbp < sp) {
        stop(UnwindStop::kNoUnwindInfo, ip);
        break;
      }
      const Read r1 = read_u64(mem, rbp, &saved_rbp), r2 = read_u64(mem, rbp + 8, &return_address);
      if (r1 != Read::kOk || r2 != Read::kOk) {
        stop(r1 == Read::kAboveCopy || r2 == Read::kAboveCopy ? UnwindStop::kEndOfCopy : UnwindStop::kNoUnwindInfo,
             ip);
        break;
      }
      cfa = rbp + 16;
      caller = regs;  // callee-saved registers other than rbp: unchanged as far as we know
      for (int r = 0; r < kUnwindRegs; ++r)
        if (r != kDwarfRbx && r < 12) caller.forget(r);
      caller.set(kDwarfRbp, saved_rbp);
      used_fp = true;
    }
    if (cfa <= sp) {  // the stack grows down: each caller's frame lies above
      stop(UnwindStop::kNoProgress, ip);
      break;
    }
    if (return_address == 0) {  // some thread entries end the chain with a null return address
      stop(UnwindStop::kOutermost, ip);
      break;
    }
    caller.set(kDwarfRsp, cfa);
    caller.set(kDwarfRip, return_address);
    regs = caller;
  }
  out.method = used_fp ? UnwindMethod::kDwarfAndFp : UnwindMethod::kDwarf;
  return out;
}

}  // namespace cgscope::collector
