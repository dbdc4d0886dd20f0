// Tests of lmbatch.hpp against the built library. Linked with odr_a.cpp and odr_b.cpp, which
// include the header too. Usage: cpp_wrapper_test astronaut_rgb8_native.raw
#include <lmbatch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

int status_from_a();
int status_from_b();

static int failures = 0;
#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                               \
    }                                                                           \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(rgb.size() == 512u * 512u * 3u);
  const lmbatch::Image frame{rgb.data(), 512, 512, 512 * 3, lmbatch::PixelFormat::Rgb8};
  const lmbatch::Box face{177.2828f, 80.559f, 271.8469f, 175.1234f};

  CHECK(status_from_a() == LM_STATUS_QUEUE_FULL && status_from_b() == LM_STATUS_PENDING);

  // Defaults come from lm_config_init.
  lmbatch::Config defaults;
  CHECK(defaults.max_batch == 32 && defaults.queue_capacity == 96 && defaults.max_wait.count() == 10000);
  CHECK(defaults.backend == lmbatch::Backend::Auto && defaults.result_ttl.count() == 30000);

  // The constructor throws with the status and the library's message.
  {
    lmbatch::Config bad;
    bad.max_batch = 0;
    bool thrown = false;
    try {
      lmbatch::Pipeline p(bad);
    } catch (const lmbatch::Error &e) {
      thrown = true;
      CHECK(e.status() == lmbatch::Status::InvalidArgument);
      CHECK(std::string(e.what()).find("max_batch") != std::string::npos);
    }
    CHECK(thrown);
    lmbatch::Config trt;
    trt.backend = lmbatch::Backend::TensorRT;
    thrown = false;
    try {
      lmbatch::Pipeline p(trt);
    } catch (const lmbatch::Error &e) {
      thrown = true;
      CHECK(e.status() == lmbatch::Status::BackendUnavailable);
    }
    CHECK(thrown);
  }

  std::mutex log_mutex;
  std::vector<std::string> logged;
  lmbatch::Config config;
  config.backend = lmbatch::Backend::Cpu;
  config.max_wait = std::chrono::microseconds(0);
  config.log = [&](int, const char *message) {
    std::lock_guard<std::mutex> lock(log_mutex);
    logged.emplace_back(message);
  };
  lmbatch::Pipeline pipeline(config);
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    CHECK(!logged.empty());
  }
  CHECK(pipeline.model_info().backend == "cpu-tract");
  CHECK(pipeline.model_info().num_points == 468);

  CHECK(pipeline.enqueue(1, frame, face) == lmbatch::Status::Ok);
  CHECK(pipeline.enqueue(1, frame, face) == lmbatch::Status::DuplicateId);
  CHECK(pipeline.enqueue(2, frame, lmbatch::Box{10, 10, 5, 20}) == lmbatch::Status::InvalidArgument);
  lmbatch::Image no_data = frame;
  no_data.data = nullptr;
  CHECK(pipeline.enqueue(3, no_data, face) == lmbatch::Status::InvalidArgument);

  // Moving the pipeline keeps the handle (and the log callback) alive.
  lmbatch::Pipeline moved(std::move(pipeline));
  auto result = moved.pop_wait(1, std::chrono::seconds(30));
  CHECK(result.ok());
  CHECK(result.landmarks.size() == 468);
  const auto nose = result.landmarks[1];
  CHECK(std::hypot(nose.x - 223.65218f, nose.y - 131.01866f) < 1.5f);
  const auto eye = result.landmarks[263];
  CHECK(std::hypot(eye.x - 256.41855f, eye.y - 103.96334f) < 1.5f);
  CHECK(result.landmarks.face_score() > 0.9f);
  CHECK(result.landmarks.data()[263 * 3] == eye.x);

  CHECK(moved.pop(1).status == lmbatch::Status::NotFound);
  CHECK(moved.cancel(1) == lmbatch::Status::NotFound);
  const lm_stats s = moved.stats();
  CHECK(s.accepted == 1 && s.popped == 1 && s.rejected_invalid == 2);
  // The moved-from object is empty: its calls report NULL_ARGUMENT, its destructor does nothing.
  CHECK(pipeline.native() == nullptr);
  CHECK(pipeline.enqueue(9, frame, face) == lmbatch::Status::NullArgument);

  lmbatch::Pipeline assigned(config);
  assigned = std::move(moved);
  CHECK(assigned.enqueue(4, frame, face) == lmbatch::Status::Ok);
  CHECK(assigned.pop_wait(4, std::chrono::seconds(30)).ok());

  std::printf("cpp_wrapper_test: %s (%d failures)\n", failures == 0 ? "ok" : "FAILED", failures);
  return failures == 0 ? 0 : 1;
}
