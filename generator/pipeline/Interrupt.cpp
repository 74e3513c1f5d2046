#include "sparsekgen/generator/Interrupt.h"

#include <atomic>
#include <csignal>

#include <fmt/format.h>

namespace sparsekgen {

namespace {

// Lock-free, so the handler may store into it (a signal handler may touch nothing else).
std::atomic<int> received{0};
static_assert(std::atomic<int>::is_always_lock_free);

constexpr int kHandled[] = {SIGINT, SIGTERM};
struct sigaction previous[2];

extern "C" void onInterrupt(int signal) { received.store(signal); }

} // namespace

Interrupted::Interrupted(int signal)
    : std::runtime_error(fmt::format("interrupted by {}", signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM"
                                                                                                      : "a signal")),
      signal_(signal) {}

InterruptHandlers::InterruptHandlers() {
  received.store(0);
  struct sigaction action {};
  action.sa_handler = onInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND; // the second signal: default action
  for (int i = 0; i < 2; ++i)
    sigaction(kHandled[i], &action, &previous[i]);
}

InterruptHandlers::~InterruptHandlers() {
  for (int i = 0; i < 2; ++i)
    sigaction(kHandled[i], &previous[i], nullptr);
}

int pendingInterrupt() { return received.load(); }

void throwIfInterrupted() {
  if (int signal = received.load())
    throw Interrupted(signal);
}

} // namespace sparsekgen
