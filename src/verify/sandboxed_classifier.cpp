#include "wmark/verify/sandboxed_classifier.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <c10/core/CPUAllocator.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>
#include <vector>

#include "wmark/util/error.h"
#include "../util/text.h"

extern char** environ;

namespace fs = std::filesystem;

namespace wmark {
namespace {

constexpr std::uint32_t kRequestMagic = 0x31514d57;   // "WMQ1" in little-endian bytes
constexpr std::uint32_t kResponseMagic = 0x31524d57;  // "WMR1"
constexpr std::uint32_t kKindLogits = 1;
enum Status : std::uint32_t { kLogits = 0, kFailed = 1, kReady = 2 };
constexpr std::uint64_t kMaxMessage = 4096;
constexpr std::int64_t kMaxDim = std::int64_t{1} << 20;
constexpr std::int64_t kMaxRequestFloats = std::int64_t{1} << 28;  // 1 GiB of float32
constexpr int kExitOutOfMemory = 86;                               // an allocation failed at the memory limit
constexpr int kExitCannotStart = 127;                              // exec or the set-up before it failed
constexpr int kChannel = 3;                                        // the worker's end of the socket

struct RequestHeader {
  std::uint32_t magic, kind;
  std::int64_t dims[4];
};
struct ResponseHeader {
  std::uint32_t magic, status;
  std::uint64_t bytes;
};
static_assert(sizeof(RequestHeader) == 40 && sizeof(ResponseHeader) == 16, "wire headers must not be padded");

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- worker side

// Reads (or, if `out`, writes) exactly n bytes; false on end of file or an error.
bool transfer_full(int fd, char* p, std::size_t n, bool out) {
  while (n > 0) {
    const auto done = out ? ::write(fd, p, n) : ::read(fd, p, n);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) return false;
    p += done;
    n -= static_cast<std::size_t>(done);
  }
  return true;
}

bool read_full(int fd, void* data, std::size_t n) { return transfer_full(fd, static_cast<char*>(data), n, false); }

bool write_full(int fd, const void* data, std::size_t n) {
  return transfer_full(fd, const_cast<char*>(static_cast<const char*>(data)), n, true);
}

bool send_frame(int fd, Status status, const void* payload, std::size_t bytes) {
  const ResponseHeader header{kResponseMagic, status, bytes};
  return write_full(fd, &header, sizeof header) && write_full(fd, payload, bytes);
}

bool send_error(int fd, const std::string& message) {
  const auto text = message.substr(0, kMaxMessage);
  return send_frame(fd, kFailed, text.data(), text.size());
}

bool out_of_memory(const std::string& message) {
  return message.find("can't allocate memory") != std::string::npos ||
         message.find("Cannot allocate memory") != std::string::npos ||
         message.find("bad_alloc") != std::string::npos;
}

void set_limit(int resource, rlim_t soft, rlim_t hard) {
  const rlimit limit{soft, hard};
  WMARK_CHECK(::setrlimit(resource, &limit) == 0, "sandbox worker: cannot set resource limit ", resource, ": ",
              std::strerror(errno));
}

// The worker's mapped address space now, bytes.
rlim_t address_space() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  WMARK_CHECK(statm >> pages, "sandbox worker: cannot read /proc/self/statm");
  return static_cast<rlim_t>(pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
}

void release(void* data) { std::free(data); }

// The worker's CPU tensor allocator: LibTorch's own throws a c10::Error on failure, and
// building that error (a symbolised backtrace) takes seconds at the memory limit; this
// one ends the worker at once with the status the parent reports as the memory limit.
struct LimitedAllocator final : c10::Allocator {
  c10::DataPtr allocate(std::size_t bytes) const override {
    void* data = nullptr;
    if (bytes > 0 && ::posix_memalign(&data, 64, bytes) != 0) ::_exit(kExitOutOfMemory);
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
};

// Runs LibTorch's lazy initialisation (CPU feature detection, kernel selection) with
// trusted inputs while files can still be opened.
void warm_up() {
  torch::NoGradGuard no_grad;
  auto x = torch::ones({1, 1, 8, 8});
  auto y = torch::max_pool2d(torch::relu(torch::conv2d(x, torch::ones({2, 1, 3, 3}))), {2, 2});
  (void)torch::linear(torch::flatten(y, 1), torch::ones({3, 18})).argmax(1);
}

// Answers one request; false when the channel is closed or broken.
bool serve_one(torch::jit::Module& module, int fd) {
  RequestHeader request{};
  if (!read_full(fd, &request, sizeof request)) return false;
  if (request.magic != kRequestMagic || request.kind != kKindLogits) return false;  // not our parent
  std::int64_t count = 1;
  for (const auto d : request.dims) {
    if (d < 1 || d > kMaxDim) return false;
    count *= d;
    if (count > kMaxRequestFloats) return false;
  }
  auto x = torch::empty({request.dims[0], request.dims[1], request.dims[2], request.dims[3]}, torch::kFloat);
  if (!read_full(fd, x.data_ptr<float>(), static_cast<std::size_t>(count) * sizeof(float))) return false;
  at::Tensor logits;
  try {
    torch::NoGradGuard no_grad;
    const auto output = module.forward({x});
    if (!output.isTensor()) return send_error(fd, "forward returned " + output.tagKind() + ", not a logits tensor");
    logits = output.toTensor();
    if (logits.dim() != 2 || logits.size(0) != request.dims[0] || logits.size(1) < 1) {
      std::ostringstream shape;
      shape << "forward returned " << logits.sizes() << " for a batch of " << request.dims[0]
            << "; expected [N, classes] logits";
      return send_error(fd, shape.str());
    }
    logits = logits.detach().to(torch::kCPU, torch::kFloat).contiguous();
  } catch (const std::bad_alloc&) {
    ::_exit(kExitOutOfMemory);
  } catch (const c10::Error& error) {
    if (out_of_memory(error.what())) ::_exit(kExitOutOfMemory);
    return send_error(fd, detail::first_line(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    if (out_of_memory(error.what())) ::_exit(kExitOutOfMemory);
    return send_error(fd, detail::first_line(error.what()));
  }
  const std::int64_t shape[2] = {logits.size(0), logits.size(1)};
  const auto bytes = static_cast<std::size_t>(logits.numel()) * sizeof(float);
  const ResponseHeader header{kResponseMagic, kLogits, sizeof shape + bytes};
  return write_full(fd, &header, sizeof header) && write_full(fd, shape, sizeof shape) &&
         write_full(fd, logits.data_ptr<float>(), bytes);
}

// ---------------------------------------------------------------- parent side

// Untrusted text for an error message: printable ASCII only.
std::string printable(std::string text) {
  for (auto& ch : text) {
    if (ch < 0x20 || ch > 0x7e) ch = '?';
  }
  return text;
}

// Starts `argv[0]` as the worker with `channel` as its fd 3. Between fork and exec the
// child makes async-signal-safe system calls only (the parent runs LibTorch threads).
pid_t spawn_worker(const std::vector<char*>& argv, const std::vector<char*>& envp, int channel, int null_fd,
                   std::int64_t cpu_seconds) {
  const pid_t parent = ::getpid();
  const rlimit cpu{static_cast<rlim_t>(cpu_seconds), static_cast<rlim_t>(cpu_seconds) + 1};
  const rlimit zero{0, 0};
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // The child.
  ::setsid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kExitCannotStart);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(kExitCannotStart);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (const int sig : {SIGPIPE, SIGXCPU, SIGXFSZ, SIGSEGV, SIGBUS, SIGABRT, SIGCHLD}) ::signal(sig, SIG_DFL);
  if (::dup2(null_fd, 0) < 0 || ::dup2(null_fd, 1) < 0 || ::dup2(channel, kChannel) < 0) ::_exit(kExitCannotStart);
  if (::close_range(kChannel + 1, ~0U, 0) != 0) {
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    for (rlim_t fd = kChannel + 1; fd < std::min<rlim_t>(files.rlim_cur, 65536); ++fd) ::close(static_cast<int>(fd));
  }
  if (::setrlimit(RLIMIT_CPU, &cpu) != 0 || ::setrlimit(RLIMIT_FSIZE, &zero) != 0 ||
      ::setrlimit(RLIMIT_CORE, &zero) != 0)
    ::_exit(kExitCannotStart);
  ::execve(argv[0], argv.data(), envp.data());
  ::_exit(kExitCannotStart);
}

}  // namespace

struct SandboxedClassifier::Impl {
  fs::path path;
  Normalization normalization;
  SandboxOptions options;
  pid_t pid = -1;
  int fd = -1;          // the parent's end of the socket, non-blocking
  std::string stopped;  // why the worker was stopped, once it was
  std::int64_t classes = -1;  // logits per image, once the worker has answered

  ~Impl() { reap(true); }

  // Kills (if `kill`) and reaps the worker; its wait status, or -1 if unknown.
  int reap(bool kill) {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (pid <= 0) return -1;
    if (kill) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
    int status = -1;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    return status;
  }

  std::string reason(int status) const {
    if (status == -1) return "it ended (its exit status was collected elsewhere)";
    if (WIFEXITED(status)) {
      const int code = WEXITSTATUS(status);
      if (code == kExitOutOfMemory)
        return "killed by memory limit (an allocation beyond " + std::to_string(options.memory_mb()) + " MB failed)";
      if (code == kExitCannotStart) return "the worker program could not be started";
      return "it exited with status " + std::to_string(code) + " before answering";
    }
    if (WIFSIGNALED(status)) {
      const int sig = WTERMSIG(status);
      if (sig == SIGXCPU) return "killed by CPU limit (" + std::to_string(options.cpu_seconds()) + " s of CPU time)";
      if (sig == SIGXFSZ) return "killed by the file-size limit (it tried to write a file)";
      if (sig == SIGKILL) return "killed by SIGKILL (the CPU hard limit or the kernel's out-of-memory killer)";
      return "crashed with signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
    }
    return "it ended with wait status " + std::to_string(status);
  }

  [[noreturn]] void stop(const std::string& why) {
    stopped = why;
    reap(true);
    WMARK_FAIL("suspect model ", path.string(), " was stopped: ", why);
  }

  // The worker closed the channel: it is ending; give it a moment, then the reason.
  [[noreturn]] void stop_ended() {
    for (int i = 0; i < 200 && pid > 0; ++i) {
      int status = 0;
      const auto done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        pid = -1;
        stop(reason(status));
      }
      if (done < 0 && errno != EINTR) {
        pid = -1;
        stop(reason(-1));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop("it closed its channel without an answer");
  }

  [[noreturn]] void stop_timeout() {
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {  // it died at the same time: say why
      pid = -1;
      stop(reason(status));
    }
    std::ostringstream why;
    why << "timeout (no answer within " << options.timeout_seconds() << " s of wall-clock time)";
    stop(why.str());
  }

  // Waits until `fd` is ready for `events` or the deadline passes (then stops the worker).
  void wait_for(short events, Clock::time_point deadline) {
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) stop_timeout();
      pollfd p{fd, events, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (ready > 0) return;
      if (ready < 0 && errno != EINTR) stop(std::string("poll failed: ") + std::strerror(errno));
    }
  }

  // Sends (POLLOUT) or receives (POLLIN) exactly n bytes before the deadline.
  void transfer(char* p, std::size_t n, short events, Clock::time_point deadline) {
    while (n > 0) {
      const auto done = events == POLLOUT ? ::send(fd, p, n, MSG_NOSIGNAL) : ::recv(fd, p, n, 0);
      if (done > 0) {
        p += done;
        n -= static_cast<std::size_t>(done);
      } else if (done < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait_for(events, deadline);
      } else if (done < 0 && errno == EINTR) {
        continue;
      } else {
        stop_ended();
      }
    }
  }

  void send_all(const void* data, std::size_t n, Clock::time_point deadline) {
    transfer(const_cast<char*>(static_cast<const char*>(data)), n, POLLOUT, deadline);
  }

  void recv_exact(void* data, std::size_t n, Clock::time_point deadline) {
    transfer(static_cast<char*>(data), n, POLLIN, deadline);
  }

  // The next answer's header; an error message is read here and returned in `message`.
  ResponseHeader receive(Clock::time_point deadline, std::string& message) {
    ResponseHeader header{};
    recv_exact(&header, sizeof header, deadline);
    if (header.magic != kResponseMagic) stop("it sent a malformed answer (bad magic)");
    if (header.status == kFailed) {
      if (header.bytes > kMaxMessage) stop("it sent a malformed answer (a " + std::to_string(header.bytes) + "-byte error message)");
      message.assign(header.bytes, '\0');
      recv_exact(message.data(), message.size(), deadline);
      message = printable(message);
    } else if (header.status != kLogits && header.status != kReady) {
      stop("it sent a malformed answer (status " + std::to_string(header.status) + ")");
    }
    return header;
  }

  void start() {
    WMARK_CHECK(fs::is_regular_file(path), "model file ", path.string(), " does not exist");
    WMARK_CHECK(options.memory_mb() >= 1 && options.cpu_seconds() >= 1 && options.timeout_seconds() > 0 &&
                    options.batch_size() >= 1 && options.max_classes() >= 1,
                "sandbox options must be positive (memory_mb, cpu_seconds, timeout_seconds, batch_size, max_classes)");
    std::error_code error;
    const auto worker = options.worker_path().empty() ? fs::read_symlink("/proc/self/exe", error)
                                                      : fs::path(options.worker_path());
    WMARK_CHECK(!error && ::access(worker.c_str(), X_OK) == 0, "the sandbox worker ", worker.string(),
                " is not an executable program (set SandboxOptions::worker_path to a wmark binary)");
    std::vector<std::string> args{worker.string(), "sandbox-worker", "--model", fs::absolute(path).string(),
                                  "--memory-mb", std::to_string(options.memory_mb())};
    std::vector<std::string> env{"OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1"};
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      if (!starts_with(entry, "OMP_NUM_THREADS=") && !starts_with(entry, "MKL_NUM_THREADS=")) env.push_back(entry);
    }
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    for (auto& e : env) envp.push_back(e.data());
    argv.push_back(nullptr);
    envp.push_back(nullptr);

    int pair[2];
    WMARK_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0, "sandbox: socketpair failed: ",
                std::strerror(errno));
    // Both descriptors the child duplicates sit above 3, so no dup2 in it overwrites them.
    const int child_end = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    const int high_null = null_fd < 0 ? -1 : ::fcntl(null_fd, F_DUPFD_CLOEXEC, 10);
    ::close(pair[1]);
    if (null_fd >= 0) ::close(null_fd);
    fd = pair[0];
    if (child_end < 0 || high_null < 0) {
      if (child_end >= 0) ::close(child_end);
      if (high_null >= 0) ::close(high_null);
      reap(false);
      WMARK_FAIL("sandbox: cannot set up the worker's descriptors: ", std::strerror(errno));
    }
    pid = spawn_worker(argv, envp, child_end, high_null, options.cpu_seconds());
    const int fork_errno = errno;
    ::close(child_end);
    ::close(high_null);
    if (pid < 0) {
      reap(false);
      WMARK_FAIL("sandbox: cannot start a worker process: ", std::strerror(fork_errno));
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

    std::string message;
    const auto header = receive(Clock::now() + deadline_span(), message);
    if (header.status == kFailed) {
      reap(true);
      WMARK_FAIL(path.string(), " ", message, " (for a wmark checkpoint, pass --arch)");
    }
    if (header.status != kReady || header.bytes != 0) stop("it sent a malformed answer (expected ready)");
  }

  Clock::duration deadline_span() const {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_seconds()));
  }

  // Logits of one normalised float batch [n, C, H, W].
  at::Tensor query(const at::Tensor& x) {
    const auto deadline = Clock::now() + deadline_span();
    const auto n = x.size(0);
    const RequestHeader request{kRequestMagic, kKindLogits, {n, x.size(1), x.size(2), x.size(3)}};
    send_all(&request, sizeof request, deadline);
    send_all(x.data_ptr<float>(), static_cast<std::size_t>(x.numel()) * sizeof(float), deadline);
    std::string message;
    const auto header = receive(deadline, message);
    if (header.status == kFailed)
      WMARK_FAIL("suspect model ", path.string(), " rejected input of shape ", x.sizes(),
                 " (does the model match the key's input shape?): ", message);
    std::int64_t shape[2] = {0, 0};
    if (header.status != kLogits || header.bytes < sizeof shape) stop("it sent a malformed answer (expected logits)");
    recv_exact(shape, sizeof shape, deadline);
    if (shape[0] != n || shape[1] < 1 || shape[1] > options.max_classes())
      stop("it sent a malformed answer (logits [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) +
           "] for a batch of " + std::to_string(n) + ")");
    const auto bytes = static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(shape[1]) * sizeof(float);
    if (header.bytes != sizeof shape + bytes) stop("it sent a malformed answer (payload size)");
    auto logits = torch::empty({n, shape[1]}, torch::kFloat);
    recv_exact(logits.data_ptr<float>(), bytes, deadline);
    // The classes must stay the same across batches, or the scores could not be stacked.
    if (classes >= 0 && shape[1] != classes) stop("it changed its class count between batches");
    classes = shape[1];
    return logits;
  }
};

SandboxedClassifier::SandboxedClassifier(const fs::path& path, Normalization normalization, SandboxOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->normalization = std::move(normalization);
  impl_->options = std::move(options);
  impl_->start();
}

SandboxedClassifier::~SandboxedClassifier() = default;

std::string SandboxedClassifier::describe() const { return "TorchScript " + impl_->path.string() + " (sandboxed)"; }

int SandboxedClassifier::worker_pid() const { return impl_->pid; }

at::Tensor SandboxedClassifier::classify(const at::Tensor& images) { return answer(images).labels; }

SuspectAnswers SandboxedClassifier::answer(const at::Tensor& images) {
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "classify expects uint8 images [N,C,H,W], got ", images.scalar_type(), " ", images.sizes());
  WMARK_CHECK(impl_->stopped.empty(), "suspect model ", impl_->path.string(), " was stopped earlier: ", impl_->stopped);
  queries_ += images.size(0);
  const auto n = images.size(0);
  const auto batch = impl_->options.batch_size();
  std::vector<at::Tensor> parts;
  for (std::int64_t start = 0; start < n; start += batch) {
    const auto len = std::min(batch, n - start);
    auto x = impl_->normalization.apply(images.narrow(0, start, len)).to(torch::kCPU, torch::kFloat).contiguous();
    parts.push_back(impl_->query(x));
  }
  if (parts.empty()) return {torch::empty({0}, torch::kLong), at::Tensor()};
  auto scores = torch::cat(parts);
  auto labels = scores.argmax(1);  // in [0, K) by construction
  return {std::move(labels), std::move(scores)};
}

int run_sandbox_worker(const fs::path& model_path, std::int64_t memory_mb, int channel) {
  WMARK_CHECK(memory_mb >= 1, "sandbox-worker: --memory-mb must be positive");
  try {
    at::set_num_threads(1);
    at::set_num_interop_threads(1);
  } catch (const c10::Error&) {
    // Already set (a library caller): keep the caller's.
  }
  static LimitedAllocator allocator;
  c10::SetCPUAllocator(&allocator, /*priority=*/100);
  warm_up();
  const auto memory = address_space() + static_cast<rlim_t>(memory_mb) * (rlim_t{1} << 20);
  set_limit(RLIMIT_AS, memory, memory);
  torch::jit::Module module;
  try {
    module = torch::jit::load(model_path.string(), torch::kCPU);
    module.eval();
  } catch (const std::bad_alloc&) {
    ::_exit(kExitOutOfMemory);
  } catch (const c10::Error& error) {
    if (out_of_memory(error.what())) ::_exit(kExitOutOfMemory);
    send_error(channel, "is not a TorchScript model: " + detail::first_line(error.what_without_backtrace()));
    return 0;
  } catch (const std::exception& error) {
    if (out_of_memory(error.what())) ::_exit(kExitOutOfMemory);
    send_error(channel, "is not a TorchScript model: " + detail::first_line(error.what()));
    return 0;
  }
  // No new descriptors (files, sockets) and no new processes or threads from here on.
  set_limit(RLIMIT_NOFILE, static_cast<rlim_t>(channel) + 1, static_cast<rlim_t>(channel) + 1);
  set_limit(RLIMIT_NPROC, 0, 0);
  if (!send_frame(channel, kReady, nullptr, 0)) return 0;
  while (serve_one(module, channel)) {
  }
  return 0;
}

}  // namespace wmark
