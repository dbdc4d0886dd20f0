// The smallest C++ program: landmarks for one face through lmbatch.hpp.
// Usage: example_cpp FRAME.raw WIDTH HEIGHT X1 Y1 X2 Y2 (FRAME.raw: packed RGB8 rows).
#include <lmbatch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 8) {
    std::cerr << "usage: " << argv[0] << " FRAME.raw WIDTH HEIGHT X1 Y1 X2 Y2\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const uint32_t w = static_cast<uint32_t>(std::atoi(argv[2])), h = static_cast<uint32_t>(std::atoi(argv[3]));
  if (rgb.size() < size_t{w} * h * 3) {
    std::cerr << "frame file too small\n";
    return 1;
  }
  try {
    lmbatch::Pipeline pipeline;  // bundled model, AUTO backend
    const lmbatch::Image frame{rgb.data(), w, h, size_t{w} * 3, lmbatch::PixelFormat::Rgb8};
    const lmbatch::Box face{std::strtof(argv[4], nullptr), std::strtof(argv[5], nullptr),
                            std::strtof(argv[6], nullptr), std::strtof(argv[7], nullptr)};
    if (auto s = pipeline.enqueue(1, frame, face); s != lmbatch::Status::Ok) {
      std::cerr << "enqueue: " << lmbatch::to_string(s) << "\n";
      return 1;
    }
    const auto result = pipeline.pop_wait(1, std::chrono::seconds(10));
    if (!result) {
      std::cerr << "pop: " << lmbatch::to_string(result.status) << "\n";
      return 1;
    }
    const auto nose = result.landmarks[1];
    std::printf("backend %s, %zu points, face score %.3f, nose tip (%.1f, %.1f)\n",
                pipeline.model_info().backend.c_str(), result.landmarks.size(), result.landmarks.face_score(),
                nose.x, nose.y);
  } catch (const lmbatch::Error &e) {
    std::cerr << "lmbatch: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
