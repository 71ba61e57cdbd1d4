// Thread names: see edgecache/thread_name.h.
#include "edgecache/thread_name.h"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <latch>
#include <memory>

namespace edgecache {

void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

void NamePoolThreads(boost::asio::thread_pool& pool, size_t threads, const std::string& prefix,
                     const std::function<void()>& setup) {
  // Shared: a thread may still be returning from the latch after the caller has gone on.
  auto named = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(threads));
  for (size_t i = 0; i < threads; ++i) {
    boost::asio::post(pool, [named, name = prefix + std::to_string(i), &setup] {
      NameThisThread(name);
      if (setup) setup();
      named->arrive_and_wait();
    });
  }
  named->wait();
}

}  // namespace edgecache
