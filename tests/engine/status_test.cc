#include "edgecache/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace edgecache {
namespace {

TEST(StatusTest, OkAndErrors) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  Status nf = Status::NotFound("no such key");
  EXPECT_FALSE(nf.ok());
  EXPECT_TRUE(nf.IsNotFound());
  EXPECT_EQ(nf.ToString(), "NotFound: no such key");
}

TEST(StatusTest, FromErrnoMapsNoSpace) {
  EXPECT_TRUE(Status::FromErrno(ENOSPC, "write").IsNoSpace());
  Status eio = Status::FromErrno(EIO, "read chunk");
  EXPECT_EQ(eio.code(), Status::Code::kIOError);
  EXPECT_NE(eio.message().find("read chunk"), std::string::npos);
}

TEST(StatusTest, CopiesAndMovesKeepTheError) {
  Status a = Status::Corruption("bad");
  Status b = a;
  Status c = std::move(a);
  EXPECT_TRUE(b.IsCorruption());
  EXPECT_TRUE(c.IsCorruption());
}

#ifndef NDEBUG
TEST(StatusDeathTest, UncheckedErrorAbortsInDebugBuilds) {
  EXPECT_DEATH({ Status s = Status::IOError("dropped on the floor"); }, "unchecked error status");
}
#endif

}  // namespace
}  // namespace edgecache
