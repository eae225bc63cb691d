// Kernel and end-to-end tests need root (namespaces, cgroups, mounts).
// Without it they are skipped: exit 77 is CTest's SKIP_RETURN_CODE.
#define CATCH_CONFIG_RUNNER
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>

int main(int argc, char* argv[]) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "skipped: kernel tests need root\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
