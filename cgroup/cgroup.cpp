#include "cgroup/cgroup.hpp"
