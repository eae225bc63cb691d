#include "namespaces/spawn.hpp"
