// The two ways xen2mx_info prints a snapshot: tables for people, JSON for
// scripts.
#pragma once

#include <cstdio>
#include <string>

#include "info/snapshot.hpp"

namespace xen2mx::info {

void print_text(const Snapshot& snapshot, std::FILE* out);
void print_json(const Snapshot& snapshot, std::FILE* out);

// What both print of an endpoint's open flags.
std::string flag_names(uint32_t flags);
std::string mac_text(const uint8_t* mac);
// A string the kernel copied from a process or an interface, up to its NUL
// or `size` bytes: any byte is possible.
std::string fixed_string(const char* text, size_t size);

}  // namespace xen2mx::info
