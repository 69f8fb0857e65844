// Reading the enum fields of structures an application filled in. C lets
// such a field hold any int; in C++ loading an out-of-range value through the
// enum type is undefined, so fields are checked as plain ints first.
#pragma once

#include <cstring>
#include <type_traits>

namespace xen2mx::api {

template <typename Enum>
int raw(const Enum& field) {
    static_assert(std::is_enum_v<Enum> && sizeof(Enum) == sizeof(int));
    int value;
    std::memcpy(&value, &field, sizeof value);
    return value;
}

}  // namespace xen2mx::api
