// Human output of edgecachectl: the admin documents (docs/admin-api.md) as tables and
// key/value blocks. `--json` prints the documents themselves instead.
//
// Thread safety: pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace edgecache::ctl {

std::string RenderInspect(const boost::json::object& doc);
std::string RenderList(const boost::json::object& doc);
std::string RenderStats(const boost::json::object& doc);
std::string RenderPurge(const boost::json::object& doc);
std::string RenderReload(const boost::json::object& doc);
std::string RenderVerify(const boost::json::object& doc);
// One frame of `top`: rates over `seconds` between two stats documents, and the top
// URLs document (GET /api/v1/top).
std::string RenderTop(const boost::json::object& before, const boost::json::object& after,
                      double seconds, const boost::json::object& top);

// "12.5%"
std::string Percent(double ratio);
// Left-aligned columns, two spaces apart; the header row first.
std::string Table(const std::vector<std::vector<std::string>>& rows);

// "512 B", "1.5 KiB", "20.0 GiB"
std::string HumanBytes(uint64_t bytes);
// "45s", "4m59s", "2h0m", "3d4h"; negative durations as "-4m59s"
std::string HumanDuration(int64_t seconds);
// "2026-11-23 11:40:00Z"; "-" for 0
std::string HumanTime(int64_t unix_seconds);

}  // namespace edgecache::ctl
