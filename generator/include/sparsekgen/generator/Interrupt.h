// SIGINT and SIGTERM during a long run of the generator (`sparsekgen build` compiles for minutes).
// The first signal asks the run to stop: workers start no new kernel, a running ptxas is killed, the
// bundle's staging directory and temporary files are removed, the previous bundle stays in place,
// and the tool exits 128 + the signal's number. A second signal takes the default action at once.
#pragma once

#include <stdexcept>

namespace sparsekgen {

// Thrown where the run stops because a signal asked it to.
class Interrupted : public std::runtime_error {
public:
  explicit Interrupted(int signal);
  int signal() const { return signal_; }

private:
  int signal_;
};

// Installs the handlers for its lifetime; the previous ones come back on destruction.
class InterruptHandlers {
public:
  InterruptHandlers();
  ~InterruptHandlers();
  InterruptHandlers(const InterruptHandlers &) = delete;
  InterruptHandlers &operator=(const InterruptHandlers &) = delete;
};

// The signal received since the handlers were installed, or 0.
int pendingInterrupt();
// Throws Interrupted when a signal is pending.
void throwIfInterrupted();

} // namespace sparsekgen
