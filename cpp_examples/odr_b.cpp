#include <lmbatch.hpp>
#include <lmbatch.hpp>  // and twice in one unit: the include guards hold

int status_from_b() { return static_cast<int>(lmbatch::Status::Pending); }
