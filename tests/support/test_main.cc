// GoogleTest main for edgecache tests: quiet engine logging unless EDGECACHE_TEST_LOG is set.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  spdlog::set_level(std::getenv("EDGECACHE_TEST_LOG") ? spdlog::level::debug : spdlog::level::err);
  return RUN_ALL_TESTS();
}
