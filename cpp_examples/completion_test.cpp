// Completion in C++ (ABI 1.3): Pipeline::pop_next from one consumer thread, Config::on_ready
// announcing each final state (and popping it from inside the callback), and a shutdown that
// joins the consumer before the Pipeline is destroyed. Run plain, under valgrind and under ASan.
//
// Usage: completion_test FRAME.raw (the 512x512 RGB8 astronaut frame of tests/data/faces)
#include <lmbatch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

const lmbatch::Box kFace{177.2828f, 80.559f, 271.8469f, 175.1234f};
constexpr uint64_t kFaces = 16;  // few: the test also runs under valgrind

lmbatch::Config small_config() {
  lmbatch::Config config;
  config.backend = lmbatch::Backend::Cpu;
  config.max_batch = 8;
  config.queue_capacity = 64;
  config.max_wait = std::chrono::milliseconds(2);
  return config;
}

// One consumer thread serves every id through pop_next, while on_ready counts announcements.
void one_consumer_for_every_id(const lmbatch::Image &frame) {
  std::mutex mu;
  std::map<uint64_t, int> announced, consumed;
  std::atomic<bool> destroyed{false};
  std::atomic<int> after_destroy{0};
  {
    lmbatch::Config config = small_config();
    config.on_ready([&](uint64_t id, lmbatch::Status status) {
      if (destroyed.load()) ++after_destroy;
      std::lock_guard<std::mutex> lock(mu);
      if (status == lmbatch::Status::Ok) ++announced[id];
    });
    lmbatch::Pipeline pipeline(config);
    std::atomic<bool> stop{false};
    std::thread consumer([&] {
      // A finite timeout, so the loop sees `stop` and ends before the Pipeline is destroyed.
      while (!stop.load()) {
        auto next = pipeline.pop_next(std::chrono::milliseconds(20));
        if (!next) continue;
        check(next->result.ok() && next->result.landmarks.size() == 468, "pop_next gives landmarks");
        const lmbatch::Box tb = next->result.landmarks.track_box();
        const lmbatch::Point nose = next->result.landmarks[1];
        check(tb.x1 < nose.x && nose.x < tb.x2 && tb.y1 < nose.y && nose.y < tb.y2,
              "pop_next's track_box holds the nose tip");
        std::lock_guard<std::mutex> lock(mu);
        ++consumed[next->event_id];
      }
    });
    uint64_t accepted = 0;
    for (uint64_t id = 1000; id < 1000 + kFaces; ++id) {
      while (true) {
        const auto s = pipeline.enqueue(id, frame, kFace);
        if (s == lmbatch::Status::Ok) break;
        check(s == lmbatch::Status::QueueFull, "enqueue answers Ok or QueueFull");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ++accepted;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(600);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (consumed.size() == kFaces && announced.size() == kFaces) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop = true;
    consumer.join();  // the consumer is joined before the Pipeline is destroyed
    const lm_stats s = pipeline.stats();
    check(s.popped == kFaces && s.ready_callbacks == kFaces, "stats count the pops and callbacks");
    check(accepted == kFaces, "every face accepted");
  }
  destroyed = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::lock_guard<std::mutex> lock(mu);
  check(consumed.size() == kFaces, "pop_next delivered every id");
  check(announced.size() == kFaces, "on_ready announced every id");
  for (const auto &kv : consumed) check(kv.second == 1, "pop_next delivered an id once");
  for (const auto &kv : announced) check(kv.second == 1, "on_ready announced an id once");
  check(after_destroy.load() == 0, "no callback after the Pipeline is destroyed");
  std::printf("one consumer: %zu ids delivered once each, %zu announced\n", consumed.size(), announced.size());
}

// The callback pops its own id from inside the callback (no library lock is held).
void callback_pops_its_own_id(const lmbatch::Image &frame) {
  std::atomic<lmbatch::Pipeline *> self{nullptr};
  std::atomic<int> popped_ok{0}, popped_other{0};
  lmbatch::Config config = small_config();
  config.on_ready([&](uint64_t id, lmbatch::Status) {
    lmbatch::Pipeline *p = self.load();
    if (p && p->pop(id).ok()) {
      ++popped_ok;
    } else {
      ++popped_other;
    }
  });
  lmbatch::Pipeline pipeline(config);
  self = &pipeline;
  for (uint64_t id = 0; id < 8; ++id) check(pipeline.enqueue(id, frame, kFace) == lmbatch::Status::Ok, "enqueue");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(600);
  while (popped_ok.load() + popped_other.load() < 8 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  check(popped_ok.load() == 8 && popped_other.load() == 0, "the callback popped each id itself");
  check(!pipeline.pop_next(std::chrono::milliseconds(0)), "nothing left for pop_next");
  std::printf("reentrant callback: %d ids popped inside the callback\n", popped_ok.load());
}

// A moved Pipeline keeps its callback alive; the moved-from one answers without crashing.
void callback_survives_a_move(const lmbatch::Image &frame) {
  std::atomic<int> calls{0};
  lmbatch::Config config = small_config();
  config.on_ready([&](uint64_t, lmbatch::Status) { ++calls; });
  lmbatch::Pipeline first(config);
  lmbatch::Pipeline second(std::move(first));
  check(second.enqueue(7, frame, kFace) == lmbatch::Status::Ok, "enqueue on the moved-to pipeline");
  auto next = second.pop_next(std::chrono::seconds(600));
  check(next && next->event_id == 7 && next->result.ok(), "pop_next on the moved-to pipeline");
  check(first.pop_next(std::chrono::milliseconds(0)).has_value(), "a moved-from pipeline answers (NullArgument)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (calls.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  check(calls.load() == 1, "the callback moved with the pipeline");
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FRAME.raw\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (rgb.size() != 512u * 512u * 3u) {
    std::fprintf(stderr, "%s is not the 512x512 RGB8 astronaut frame\n", argv[1]);
    return 2;
  }
  const lmbatch::Image frame{rgb.data(), 512, 512, 512 * 3, lmbatch::PixelFormat::Rgb8};
  one_consumer_for_every_id(frame);
  callback_pops_its_own_id(frame);
  callback_survives_a_move(frame);
  std::printf("%s\n", failures == 0 ? "completion_test: all passed" : "completion_test: FAILED");
  return failures == 0 ? 0 : 1;
}
