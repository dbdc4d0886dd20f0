// Included from two translation units linked into one program: the header-only wrapper must not
// define anything twice (ODR).
#include <lmbatch.hpp>

int status_from_a() { return static_cast<int>(lmbatch::Status::QueueFull); }
