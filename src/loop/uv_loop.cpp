#include "loop/uv_loop.hpp"

#include <time.h>

#include <stdexcept>

#include "common/log.hpp"

namespace mcphd::loop {

namespace {

class UvTimer final : public Timer {
 public:
  explicit UvTimer(uv_loop_t* loop) : handle_(new uv_timer_t) {
    // uv_timer_init cannot fail for a valid loop; checked anyway.
    if (int rc = uv_timer_init(loop, handle_); rc != 0) {
      delete handle_;
      throw std::runtime_error(std::string("uv_timer_init: ") + uv_strerror(rc));
    }
    handle_->data = this;
  }
  ~UvTimer() override {
    uv_timer_stop(handle_);
    handle_->data = nullptr;
    closeAndDelete(handle_);
  }

  void start(int64_t delayMs, std::function<void()> callback) override {
    callback_ = std::move(callback);
    uv_timer_start(handle_, &UvTimer::onTimer, delayMs < 0 ? 0 : static_cast<uint64_t>(delayMs), 0);
  }
  void stop() override { uv_timer_stop(handle_); }
  bool active() const override { return uv_is_active(reinterpret_cast<uv_handle_t*>(handle_)); }

 private:
  static void onTimer(uv_timer_t* handle) {
    auto* self = static_cast<UvTimer*>(handle->data);
    if (self == nullptr) {
      return;
    }
    // Moved out so the callback may destroy or re-arm this timer.
    std::function<void()> callback = std::move(self->callback_);
    callback();
  }

  uv_timer_t* handle_;
  std::function<void()> callback_;
};

}  // namespace

UvLoop::UvLoop() {
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
}

UvLoop::~UvLoop() {
  if (!closed_) {
    auto r = close();
    if (!r) {
      log::error(r.error().message);
    }
  }
}

void UvLoop::run() { uv_run(&loop_, UV_RUN_DEFAULT); }

Result<void> UvLoop::close() {
  // Let pending close callbacks run; a handle that is still active is reported below.
  for (int i = 0; i < 16 && uv_loop_alive(&loop_); ++i) {
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  std::string open;
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void* arg) {
        auto* names = static_cast<std::string*>(arg);
        if (!uv_is_closing(h)) {
          *names += std::string(names->empty() ? "" : ", ") + uv_handle_type_name(h->type);
        }
      },
      &open);
  if (!open.empty()) {
    return makeError("libuv handles still open at shutdown: " + open);
  }
  if (int rc = uv_loop_close(&loop_); rc != 0) {
    return makeError(std::string("uv_loop_close: ") + uv_strerror(rc));
  }
  closed_ = true;
  return {};
}

int64_t UvLoop::nowUs() const { return static_cast<int64_t>(uv_hrtime() / 1'000); }

int64_t UvLoop::wallMs() const {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::unique_ptr<Timer> UvLoop::createTimer() { return std::make_unique<UvTimer>(&loop_); }

UvSignal::UvSignal(UvLoop& loop, int signum, std::function<void()> callback)
    : handle_(new uv_signal_t), callback_(std::move(callback)) {
  uv_signal_init(loop.raw(), handle_);
  handle_->data = this;
  if (int rc = uv_signal_start(
          handle_,
          [](uv_signal_t* h, int) {
            if (h->data != nullptr) {
              static_cast<UvSignal*>(h->data)->callback_();
            }
          },
          signum);
      rc != 0) {
    log::error(std::string("cannot watch signal: ") + uv_strerror(rc));
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
}

UvSignal::~UvSignal() {
  uv_signal_stop(handle_);
  handle_->data = nullptr;
  closeAndDelete(handle_);
}

}  // namespace mcphd::loop
