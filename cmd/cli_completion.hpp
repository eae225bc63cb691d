#pragma once
// Shell completion scripts made from berth's own command table (the CLI11
// app), so a command or flag added there completes without another edit.
// A positional named "container" also completes the names of the
// containers the caller sees (`berth ps -a -o name`).
#include <map>
#include <string>

#include <CLI/CLI.hpp>

namespace berth::cli {

// Values an option takes, by any of its names ("-o" -> "table wide json yaml name").
using OptionValues = std::map<std::string, std::string>;

std::string bashCompletion(const CLI::App& app, const OptionValues& values);
std::string zshCompletion(const CLI::App& app, const OptionValues& values);

}  // namespace berth::cli
