#include "http/http_date.h"

#include <array>
#include <ctime>

#include "util/ascii.h"

namespace edgecache::http_util {
namespace {

constexpr std::array<std::string_view, 7> kDays = {"sunday",   "monday", "tuesday", "wednesday",
                                                   "thursday", "friday", "saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                      "jul", "aug", "sep", "oct", "nov", "dec"};

// A cursor over the field value: every step consumes exactly what the grammar allows.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return s_.empty(); }

  bool Literal(std::string_view lit) {  // case-insensitive; `lit` is lower case
    if (s_.size() < lit.size()) return false;
    for (size_t i = 0; i < lit.size(); ++i) {
      if (util::AsciiLower(s_[i]) != lit[i]) return false;
    }
    s_.remove_prefix(lit.size());
    return true;
  }
  // Exactly `width` digits.
  bool Digits(int width, int* out) {
    if (static_cast<int>(s_.size()) < width) return false;
    int v = 0;
    for (int i = 0; i < width; ++i) {
      if (s_[i] < '0' || s_[i] > '9') return false;
      v = v * 10 + (s_[i] - '0');
    }
    s_.remove_prefix(width);
    *out = v;
    return true;
  }
  // "Sun" (short) or "Sunday" (long).
  bool DayName(bool long_form) {
    for (std::string_view day : kDays) {
      if (Literal(long_form ? day : day.substr(0, 3))) return true;
    }
    return false;
  }
  bool Month(int* month) {
    for (int i = 0; i < 12; ++i) {
      if (Literal(kMonths[i])) {
        *month = i;
        return true;
      }
    }
    return false;
  }
  // hour ":" minute ":" second
  bool TimeOfDay(std::tm* tm) {
    return Digits(2, &tm->tm_hour) && Literal(":") && Digits(2, &tm->tm_min) && Literal(":") &&
           Digits(2, &tm->tm_sec);
  }

 private:
  std::string_view s_;
};

bool DaysInMonthOk(const std::tm& tm) {
  static constexpr int kDaysIn[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int year = tm.tm_year + 1900;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (tm.tm_mday < 1 || tm.tm_mday > kDaysIn[tm.tm_mon]) return false;
  return !(tm.tm_mon == 1 && tm.tm_mday == 29 && !leap);
}

// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12): timegm's answer
// without its normalising work, which every stored response paid three times.
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

std::optional<int64_t> ToUnix(const std::tm& tm) {
  if (!DaysInMonthOk(tm) || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  // A leap second (:60) is the next minute's first, as timegm has it.
  return DaysFromCivil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 + tm.tm_hour * 3600 +
         tm.tm_min * 60 + tm.tm_sec;
}

// day-name "," SP day SP month SP year SP time-of-day SP "GMT"
std::optional<int64_t> ImfFixdate(std::string_view s) {
  Cursor c(s);
  std::tm tm{};
  int year = 0;
  if (c.DayName(false) && c.Literal(", ") && c.Digits(2, &tm.tm_mday) && c.Literal(" ") &&
      c.Month(&tm.tm_mon) && c.Literal(" ") && c.Digits(4, &year) && c.Literal(" ") &&
      c.TimeOfDay(&tm) && c.Literal(" gmt") && c.done()) {
    tm.tm_year = year - 1900;
    return ToUnix(tm);
  }
  return std::nullopt;
}

// day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP "GMT"
std::optional<int64_t> Rfc850(std::string_view s, int64_t now) {
  Cursor c(s);
  std::tm tm{};
  int yy = 0;
  if (!(c.DayName(true) && c.Literal(", ") && c.Digits(2, &tm.tm_mday) && c.Literal("-") &&
        c.Month(&tm.tm_mon) && c.Literal("-") && c.Digits(2, &yy) && c.Literal(" ") &&
        c.TimeOfDay(&tm) && c.Literal(" gmt") && c.done())) {
    return std::nullopt;
  }
  // RFC 9110 §5.6.7: a year more than 50 years ahead is the latest such year in the past.
  std::time_t t = static_cast<std::time_t>(now);
  std::tm today{};
  ::gmtime_r(&t, &today);
  const int this_year = today.tm_year + 1900;
  int year = this_year - this_year % 100 + yy;
  if (year > this_year + 50) year -= 100;
  tm.tm_year = year - 1900;
  return ToUnix(tm);
}

// day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP time-of-day SP year
std::optional<int64_t> Asctime(std::string_view s) {
  Cursor c(s);
  std::tm tm{};
  int year = 0;
  if (!(c.DayName(false) && c.Literal(" ") && c.Month(&tm.tm_mon) && c.Literal(" "))) {
    return std::nullopt;
  }
  if (!(c.Literal(" ") ? c.Digits(1, &tm.tm_mday) : c.Digits(2, &tm.tm_mday))) {
    return std::nullopt;
  }
  if (c.Literal(" ") && c.TimeOfDay(&tm) && c.Literal(" ") && c.Digits(4, &year) && c.done()) {
    tm.tm_year = year - 1900;
    return ToUnix(tm);
  }
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> ParseHttpDate(std::string_view text, int64_t now) {
  if (auto t = ImfFixdate(text)) return t;
  if (auto t = Rfc850(text, now)) return t;
  return Asctime(text);
}

std::optional<int64_t> ParseHttpDate(std::string_view text) {
  return ParseHttpDate(text, static_cast<int64_t>(std::time(nullptr)));
}

std::string FormatHttpDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace edgecache::http_util
