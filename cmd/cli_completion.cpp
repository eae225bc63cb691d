#include "cmd/cli_completion.hpp"

#include <vector>

namespace berth::cli {

namespace {

struct Entry {
  std::string word;
  std::string description;
};

// One command of the table: its path of subcommand names (" containers list"),
// what may follow it and whether a positional of it is a container.
struct Command {
  std::string path;
  std::vector<Entry> subcommands;
  std::vector<Entry> options;
  bool takesContainer = false;
};

void optionEntries(const CLI::App& app, std::vector<Entry>& out) {
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional()) continue;
    for (const auto& name : option->get_lnames()) out.push_back({"--" + name, option->get_description()});
    for (const auto& name : option->get_snames()) out.push_back({"-" + name, option->get_description()});
  }
}

void collect(const CLI::App& app, const std::string& path, const std::vector<Entry>& global, std::vector<Command>& out) {
  Command command;
  command.path = path;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name().empty()) continue;
    command.subcommands.push_back({sub->get_name(), sub->get_description()});
  }
  if (app.get_parent()) optionEntries(app, command.options);
  for (const Entry& entry : global) {
    bool listed = false;
    for (const Entry& own : command.options) listed = listed || own.word == entry.word;
    if (!listed) command.options.push_back(entry);
  }
  for (const CLI::Option* option : app.get_options())
    if (option->get_positional() && option->get_name(true) == "container") command.takesContainer = true;
  out.push_back(command);
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (!sub->get_name().empty()) collect(*sub, path + " " + sub->get_name(), global, out);
}

std::vector<Command> commandTable(const CLI::App& app) {
  std::vector<Entry> global;
  optionEntries(app, global);
  std::vector<Command> commands;
  collect(app, "", global, commands);
  return commands;
}

std::string joinWords(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& entry : entries) out += (out.empty() ? "" : " ") + entry.word;
  return out;
}

// The "case" labels of every path with subcommands below it: a word extends
// the path only when it names one of them.
std::string pathLabels(const std::vector<Command>& commands) {
  std::string labels;
  for (const Command& command : commands)
    if (!command.path.empty()) labels += (labels.empty() ? "\"" : "|\"") + command.path + "\"";
  return labels;
}

std::string singleQuoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string bashCompletion(const CLI::App& app, const OptionValues& values) {
  std::vector<Command> commands = commandTable(app);
  std::string out =
      "# bash completion for berth, made by `berth completion bash`:\n"
      "#   source <(berth completion bash)   or save it as /usr/share/bash-completion/completions/berth\n"
      "_berth() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmdpath= word i words=\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    word=${COMP_WORDS[i]}\n"
      "    [[ $word == -- ]] && return 0\n"
      "    case \"$cmdpath $word\" in\n"
      "      " + pathLabels(commands) + ") cmdpath=\"$cmdpath $word\" ;;\n"
      "    esac\n"
      "  done\n"
      "  case \"$prev\" in\n";
  for (const auto& [option, words] : values) out += "    " + option + ") COMPREPLY=($(compgen -W " + singleQuoted(words) + " -- \"$cur\")); return 0 ;;\n";
  out += "  esac\n  case \"$cmdpath\" in\n";
  for (const Command& command : commands) {
    std::string words = joinWords(command.subcommands);
    std::string options = joinWords(command.options);
    out += "    \"" + command.path + "\") words=" + singleQuoted(words + (words.empty() ? "" : " ") + options) + " ;;\n";
  }
  out += "  esac\n  case \"$cmdpath\" in\n    ";
  std::string containerPaths;
  for (const Command& command : commands)
    if (command.takesContainer) containerPaths += (containerPaths.empty() ? "\"" : "|\"") + command.path + "\"";
  if (!containerPaths.empty())
    out += containerPaths + ") [[ $cur == -* ]] || words=\"$words $(berth ps -a -o name 2>/dev/null)\" ;;\n";
  out +=
      "  esac\n"
      "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
      "}\n"
      "complete -F _berth berth\n";
  return out;
}

std::string zshCompletion(const CLI::App& app, const OptionValues& values) {
  std::vector<Command> commands = commandTable(app);
  auto describeArray = [](const std::vector<Entry>& entries) {
    std::string out = "(";
    for (const Entry& entry : entries) {
      std::string word;
      for (char c : entry.word) word += c == ':' ? std::string("\\:") : std::string(1, c);
      out += " " + singleQuoted(word + ":" + entry.description);
    }
    return out + " )";
  };
  std::string out =
      "#compdef berth\n"
      "# zsh completion for berth, made by `berth completion zsh`:\n"
      "#   source <(berth completion zsh)   or save it as _berth in a folder of $fpath\n"
      "_berth() {\n"
      "  local cmdpath= w i\n"
      "  local -a subcommands options\n"
      "  for ((i = 2; i < CURRENT; i++)); do\n"
      "    w=${words[i]}\n"
      "    [[ $w == -- ]] && return 0\n"
      "    case \"$cmdpath $w\" in\n"
      "      " + pathLabels(commands) + ") cmdpath=\"$cmdpath $w\" ;;\n"
      "    esac\n"
      "  done\n"
      "  case \"${words[CURRENT-1]}\" in\n";
  for (const auto& [option, words] : values) out += "    " + option + ") compadd -- " + words + "; return ;;\n";
  out += "  esac\n  case \"$cmdpath\" in\n";
  for (const Command& command : commands)
    out += "    \"" + command.path + "\") subcommands=" + describeArray(command.subcommands) +
           "; options=" + describeArray(command.options) + " ;;\n";
  out += "  esac\n  case \"$cmdpath\" in\n    ";
  std::string containerPaths;
  for (const Command& command : commands)
    if (command.takesContainer) containerPaths += (containerPaths.empty() ? "\"" : "|\"") + command.path + "\"";
  if (!containerPaths.empty())
    out += containerPaths + ") [[ $PREFIX == -* ]] || compadd -- ${(f)\"$(berth ps -a -o name 2>/dev/null)\"} ;;\n";
  out +=
      "  esac\n"
      "  if [[ $PREFIX == -* ]]; then _describe -t options option options\n"
      "  else _describe -t commands command subcommands; fi\n"
      "}\n"
      "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then _berth \"$@\"; else compdef _berth berth; fi\n";
  return out;
}

}  // namespace berth::cli
