#include "logs/logs.h"

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <mutex>
#include <random>
#include <vector>

namespace edgecache::logs {
namespace {

// An appending file sink whose file can be reopened at its path (after logrotate renamed it).
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(const std::string& path) { file_.open(path, /*truncate=*/false); }
  void Reopen() {
    std::lock_guard lock(mutex_);
    file_.reopen(/*truncate=*/false);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_.write(formatted);
  }
  void flush_() override { file_.flush(); }

 private:
  spdlog::details::file_helper file_;
};

// Every file sink opened here and still in use, for ReopenLogFiles.
std::mutex files_mu;
std::vector<std::weak_ptr<ReopenableFileSink>> files;  // GUARDED_BY(files_mu)

// A file sink at `path`, remembered for ReopenLogFiles; IOError naming `key` when the file
// cannot be opened.
Status OpenFile(std::string_view key, const std::string& path,
                std::shared_ptr<spdlog::sinks::sink>* out) {
  std::shared_ptr<ReopenableFileSink> sink;
  try {
    sink = std::make_shared<ReopenableFileSink>(path);
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IOError(std::string(key) + " " + path + ": " + e.what());
  }
  std::lock_guard lock(files_mu);
  std::erase_if(files, [](const auto& f) { return f.expired(); });
  files.push_back(sink);
  *out = std::move(sink);
  return Status::OK();
}

// `text` inside a quoted string of the text format: quotes, backslashes and bytes outside
// printable ASCII as \xHH, so a line is always one line and splits at its quotes.
void AppendQuoted(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
      *out += "\\x";
      *out += kHex[c >> 4];
      *out += kHex[c & 15];
    } else {
      *out += static_cast<char>(c);
    }
  }
}

}  // namespace

AccessLog::AccessLog(std::shared_ptr<spdlog::logger> logger,
                     config::NodeConfig::AccessLogFormat format)
    : logger_(std::move(logger)), format_(format) {}

AccessLog::~AccessLog() = default;

Status AccessLog::Open(const std::string& where, config::NodeConfig::AccessLogFormat format,
                       std::unique_ptr<AccessLog>* out) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (where == "-") {
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  } else if (Status s = OpenFile("access_log", where, &sink); !s.ok()) {
    return s;
  }
  // Not registered with spdlog: a reload opens a new one while requests in flight finish
  // writing to this one.
  auto logger = std::make_shared<spdlog::logger>("access", std::move(sink));
  // The time is the line's first field in both formats; JSON lines get the rest of their
  // object from Write.
  logger->set_pattern(format == config::NodeConfig::AccessLogFormat::kJson
                          ? "{\"time\":\"%Y-%m-%dT%H:%M:%S.%e%z\",%v}"
                          : "%Y-%m-%dT%H:%M:%S.%e%z %v");
  logger->flush_on(spdlog::level::info);
  out->reset(new AccessLog(std::move(logger), format));
  return Status::OK();
}

void AccessLog::Write(const AccessRecord& r) {
  char id[17];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(r.request_id));
  std::string line;
  line.reserve(256 + r.target.size());
  if (format_ == config::NodeConfig::AccessLogFormat::kJson) {
    auto field = [&](std::string_view name, std::string_view value) {
      line += '"';
      line += name;
      line += "\":";
      line += boost::json::serialize(boost::json::string(value));
      line += ',';
    };
    field("client", r.client);
    field("method", r.method);
    field("target", r.target);
    field("host", r.host);
    line +=
        "\"status\":" + std::to_string(r.status) + ",\"bytes\":" + std::to_string(r.bytes) + ",";
    field("result", r.result);
    field("cache_status", r.cache_status);
    if (r.origin_ms >= 0) {
      line += fmt::format("\"origin_ms\":{:.3f},", r.origin_ms);
    } else {
      line += "\"origin_ms\":null,";
    }
    line += fmt::format("\"total_ms\":{:.3f},\"request_id\":\"{}\"", r.total_ms, id);
  } else {
    line += r.client;
    line += " \"";
    AppendQuoted(r.method, &line);
    line += ' ';
    AppendQuoted(r.target, &line);
    line += "\" ";
    line += std::to_string(r.status);
    line += ' ';
    line += std::to_string(r.bytes);
    line += " host=\"";
    AppendQuoted(r.host, &line);
    line += "\" result=";
    line += r.result;
    line += " cache=\"";
    AppendQuoted(r.cache_status, &line);
    line += r.origin_ms >= 0 ? fmt::format("\" origin_ms={:.3f}", r.origin_ms)
                             : std::string("\" origin_ms=-");
    line += fmt::format(" total_ms={:.3f} id={}", r.total_ms, id);
  }
  logger_->info(line);
}

Status SetErrorLog(const std::string& where, const std::string& level) {
  // spdlog's logging calls use the default logger through a raw pointer, so one that was
  // the default is never destroyed: a thread may be writing through it. The level changes
  // in place; only a new file makes a new logger, and the old one is kept (with its file
  // open) for the rest of the process: a reload that moves the error log costs that much.
  static std::mutex mu;
  static std::string current;
  static bool set = false;
  static std::vector<std::shared_ptr<spdlog::logger>> retired;
  std::lock_guard lock(mu);
  if (set && where == current) {
    spdlog::default_logger_raw()->set_level(spdlog::level::from_str(level));
    return Status::OK();
  }
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (where.empty()) {
    sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  } else if (Status s = OpenFile("error_log", where, &sink); !s.ok()) {
    return s;
  }
  auto logger = std::make_shared<spdlog::logger>("", std::move(sink));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  retired.push_back(spdlog::default_logger());
  spdlog::set_default_logger(std::move(logger));
  current = where;
  set = true;
  return Status::OK();
}

void ReopenLogFiles() {
  std::vector<std::shared_ptr<ReopenableFileSink>> open;
  {
    std::lock_guard lock(files_mu);
    for (const auto& f : files) {
      if (auto sink = f.lock()) open.push_back(std::move(sink));
    }
  }
  for (const auto& sink : open) sink->Reopen();
}

uint64_t NextRequestId() {
  static const uint64_t prefix = uint64_t{std::random_device{}()} << 32;
  static std::atomic<uint32_t> counter{0};
  return prefix | counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace edgecache::logs
