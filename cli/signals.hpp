// SIGINT/SIGTERM as a stop request, without a global flag: the signals are blocked in the
// thread that creates a SignalStop (and every thread started after it) and a watcher thread
// takes them with sigtimedwait. Create it before any other thread, so that all inherit the
// blocked signals; a command then finishes what it is doing (a sample being written, a
// window being drawn) and exits cleanly.
#pragma once

#include <csignal>
#include <stop_token>
#include <thread>

namespace cgscope::cli {

class SignalStop {
 public:
  SignalStop();
  // The signals stay blocked: one arriving while we exit must not kill us half-way.
  ~SignalStop() = default;
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;

  std::stop_token token() const { return stop_.get_token(); }
  std::stop_source& source() { return stop_; }

 private:
  sigset_t set_{};
  std::stop_source stop_;
  std::jthread watcher_;
};

}  // namespace cgscope::cli
