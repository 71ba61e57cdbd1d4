// store.admission = "probation" through the real binaries: once the segments are full, an
// object fetched once is served from RAM but never written; one requested again while held
// is written and survives a restart; a restart forgets what was only held.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "support/http_client.h"
#include "support/node_fixture.h"

namespace edgecache {
namespace {

using testing::Fetch;
namespace json = boost::json;

class AdmissionE2eTest : public testing::NodeFixture {
 protected:
  void SetUp() override {
    NodeFixture::SetUp();
    config_ = dir_.Sub("node.toml");
    std::ofstream(config_) << "[store]\ncapacity = \"4MiB\"\nsegment_size = \"1MiB\"\n"
                              "admission = \"probation\"\nprobation = \"1MiB\"\n";
    Restart();
    // Until the segments are full every object is written: fill them (5 MB).
    for (int i = 0; i < 25; ++i) {
      ASSERT_EQ(Get("/fill/" + std::to_string(i) + "?size=200000&cc=max-age%3D3600").status, 200);
    }
    ASSERT_EQ(StoreStats().at("segments").as_int64(), 4);
  }
  void Restart() {
    node_.reset();
    StartNode({"--config", config_});
  }
  bool Hit(const std::string& target) {
    return Get(target).Header("cache-status").find("hit") != std::string::npos;
  }

  std::string config_;
};

TEST_F(AdmissionE2eTest, AnObjectFetchedOnceIsServedFromRamButNotWritten) {
  const int64_t written = StoreStats().at("written_bytes").as_int64();
  const std::string once = "/once?size=1000&cc=max-age%3D3600";
  EXPECT_FALSE(Hit(once));
  json::object st = StoreStats();
  EXPECT_EQ(st.at("probation_objects").as_int64(), 1);
  EXPECT_EQ(st.at("written_bytes").as_int64(), written);
  EXPECT_TRUE(Hit(once)) << "held objects are served";
  EXPECT_EQ(OriginCount("/once"), 1);

  Restart();  // what was only held is gone: a miss, and the origin is asked again
  EXPECT_FALSE(Hit(once));
  EXPECT_EQ(OriginCount("/once"), 2);
  EXPECT_TRUE(Hit("/fill/24?size=200000&cc=max-age%3D3600")) << "written objects survive";
}

TEST_F(AdmissionE2eTest, AnObjectRequestedAgainWhileHeldIsWrittenAndSurvivesARestart) {
  const std::string hot = "/hot?size=5000&cc=max-age%3D3600";
  EXPECT_FALSE(Hit(hot));
  EXPECT_TRUE(Hit(hot));
  // 300 objects of 4000 bytes, each fetched once, push /hot out of the 1 MiB queue.
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(Get("/push/" + std::to_string(i) + "?size=4000&cc=max-age%3D3600").status, 200);
  }
  json::object st = StoreStats();
  EXPECT_EQ(st.at("promoted").as_int64(), 1);
  EXPECT_GT(st.at("not_admitted").as_int64(), 50);

  Restart();
  EXPECT_TRUE(Hit(hot)) << "the promoted object was not written";
  EXPECT_EQ(OriginCount("/hot"), 1);
  EXPECT_FALSE(Hit("/push/299?size=4000&cc=max-age%3D3600"));
}

}  // namespace
}  // namespace edgecache
